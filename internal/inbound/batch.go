package inbound

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// item is one unprocessed event of a batch.
type item struct {
	row store.WebhookEvent
	ev  *linq.WebhookEvent
	msg *message // a message.received whose data decoded
	// sent and failure are a status event's (message.sent, .delivered,
	// .read) and a message.failed's data, when it decoded.
	sent    *linq.MessageEventData
	failure *linq.MessageFailedData
	// messageID is our id of the message a status or failure event is
	// about, when known before anything is locked (the echoed idempotency
	// key, or the link a failure names): the messages row it updates.
	messageID uuid.UUID
}

// linqID is Linq's id of the message a status or failure event is about:
// its linq_messages row, then its messages row, are what the event locks.
func (it *item) linqID() string {
	switch {
	case it.sent != nil:
		return it.sent.ID
	case it.failure != nil:
		return it.failure.MessageID
	}
	return ""
}

// updatesMessage reports whether the item is a status or failure event,
// which locks a message's rows.
func (it *item) updatesMessage() bool { return it.sent != nil || it.failure != nil }

// optsOut reports whether the item is a status event whose chat says the
// user opted out: the user's row is locked for it once every messages row
// of the batch has been (see applyBatch).
func (it *item) optsOut() bool {
	return it.sent != nil && it.sent.Chat.HealthStatus != nil && it.sent.Chat.HealthStatus.Status == chatOptedOut
}

// appliesHealth reports whether applying the item may change a line's
// health: a line's status, or a failure that says the line may not send.
func (it *item) appliesHealth() bool {
	if it.ev.EventType == linq.EventPhoneNumberStatusUpdated {
		return true
	}
	return it.failure != nil && lineMayNotSend(it.failure)
}

// counts reports whether applying the item counts an inbound message in a
// line's volume, the rows concurrent batches contend for.
func (it *item) counts() bool { return it.msg != nil && it.msg.lineID != 0 }

// lockOrder puts a batch's events in the one order every batch applies
// them in: status and failure events first, by our id of their message
// (those whose message is not known yet after them, by Linq's id), so
// that the messages rows are locked in id order, as a send's outcome
// record locks them, and before any line's or user's row, as admissions
// lock a message they take over before their line; then messages counted
// on a line, by line, minute and sender, so that line_volume rows (and the
// senders' user rows) are locked in ascending order; then every other
// event. Two transactions that lock in one order wait for each other but
// never deadlock, in one process or across replicas. Within each of
// these, events go by when they happened, then by event id: a sender's
// STOP and the message after it are applied in the order they were
// written.
func lockOrder(a, b *item) int {
	if a.updatesMessage() != b.updatesMessage() {
		if a.updatesMessage() {
			return -1
		}
		return 1
	}
	if a.updatesMessage() {
		ak, bk := a.messageID != uuid.Nil, b.messageID != uuid.Nil
		if ak != bk {
			if ak {
				return -1
			}
			return 1
		}
		if c := cmp.Or(bytes.Compare(a.messageID[:], b.messageID[:]), cmp.Compare(a.linqID(), b.linqID())); c != 0 {
			return c
		}
	}
	if a.counts() != b.counts() {
		if a.counts() {
			return -1
		}
		return 1
	}
	if a.counts() {
		if c := cmp.Or(
			cmp.Compare(a.msg.lineID, b.msg.lineID),
			a.msg.at.Truncate(time.Minute).Compare(b.msg.at.Truncate(time.Minute)),
			cmp.Compare(a.msg.sender, b.msg.sender),
		); c != 0 {
			return c
		}
	}
	return cmp.Or(a.row.OccurredAt.Compare(b.row.OccurredAt), cmp.Compare(a.row.EventID, b.row.EventID))
}

// outbox gathers a batch's events for product services, published in one
// call at the end of the batch's transaction.
type outbox struct{ evs []events.Event }

func (o *outbox) add(evs ...events.Event) { o.evs = append(o.evs, evs...) }

// processBatch applies the stored events named by ids in one transaction
// and answers each id: nil once its event is processed (or was already, or
// does not exist), or the error that keeps its event for a retry.
//
// Exactly once rests on the event row: every event is locked and checked
// for processed_at in the transaction that applies it and marks it
// processed, so a retried job, a batch run again event by event after it
// failed, or another replica's batch holding the same event changes nothing
// twice. A batch Postgres picks as a deadlock's victim runs again at once;
// any other error of the transaction fails the whole batch (nothing
// commits) and groupcommit runs each event again alone. An event that does
// not parse fails alone, without the batch.
func (s *Service) processBatch(ctx context.Context, ids []string) ([]error, error) {
	res, err := store.RetryDeadlocked(ctx, func() (batchResult, error) {
		return store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (batchResult, error) {
			return s.applyBatch(ctx, tx, ids)
		})
	})
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	for _, row := range res.done {
		s.metrics.WebhookLag.Observe(max(now.Sub(row.ReceivedAt), 0).Seconds())
	}
	answers := make([]error, len(ids))
	for i, id := range ids {
		answers[i] = res.failed[id]
	}
	return answers, nil
}

// batchResult is what a batch's transaction did: the events that do not
// parse, with their errors, and the events it applied.
type batchResult struct {
	failed map[string]error
	done   []store.WebhookEvent
}

// applyBatch is processBatch's transaction: it locks the events, applies
// the unprocessed ones in lock order and marks them processed.
func (s *Service) applyBatch(ctx context.Context, tx pgx.Tx, ids []string) (batchResult, error) {
	var res batchResult
	rows, err := s.q.WebhookEventLockBatch(ctx, tx, slices.Compact(slices.Sorted(slices.Values(ids))))
	if err != nil {
		return res, fmt.Errorf("lock events: %w", err)
	}
	var items []*item
	items, res.failed, err = s.prepare(ctx, tx, rows)
	if err != nil {
		return res, err
	}
	slices.SortFunc(items, lockOrder)
	// The pool lock goes before any row, as every move takes it. Line
	// health can fail a line over: such a batch takes it exclusively. Any
	// other batch takes it shared, so that it never holds a user's row
	// that a move waits for while it waits for one the move holds (a move
	// locks its users in id order, a batch its senders by line).
	lock := s.q.LinePoolLockShared
	if s.health != nil && slices.ContainsFunc(items, (*item).appliesHealth) {
		lock = s.q.LinePoolLock
	}
	if err := lock(ctx, tx, lines.PoolLockKey); err != nil {
		return res, fmt.Errorf("lock line pool: %w", err)
	}

	out := &outbox{}
	mark := store.WebhookEventMarkProcessedBatchParams{ProcessedAt: s.cfg.Now().UTC()}
	for _, it := range items {
		outcome, err := s.apply(ctx, tx, out, it)
		if err != nil {
			return res, fmt.Errorf("process %s %s: %w", it.ev.EventType, it.row.EventID, err)
		}
		mark.EventIds = append(mark.EventIds, it.row.EventID)
		mark.Outcomes = append(mark.Outcomes, outcome)
		mark.Payloads = append(mark.Payloads, s.scrub(it.row.Payload))
		res.done = append(res.done, it.row)
	}
	// A status event's opt-out locks a user's row: after every messages
	// row, as the lock order wants (an opt-out applies in any order).
	for _, it := range items {
		if it.optsOut() {
			if err := s.chatOptOut(ctx, tx, out, it.sent.Chat.ID, s.eventTime(it.ev), it.ev.EventID); err != nil {
				return res, fmt.Errorf("process %s %s: %w", it.ev.EventType, it.row.EventID, err)
			}
		}
	}
	if err := s.events.Publish(ctx, tx, out.evs...); err != nil {
		return res, err
	}
	if len(mark.EventIds) == 0 {
		return res, nil
	}
	if err := s.q.WebhookEventMarkProcessedBatch(ctx, tx, mark); err != nil {
		return res, fmt.Errorf("mark events processed: %w", err)
	}
	return res, nil
}

// prepare parses the batch's unprocessed events and looks up the lines of
// its messages, taking no lock, so that the batch can be sorted before it
// applies anything. An event that does not parse is answered with its
// error and left unprocessed.
func (s *Service) prepare(ctx context.Context, tx pgx.Tx, rows []store.WebhookEvent) ([]*item, map[string]error, error) {
	items := make([]*item, 0, len(rows))
	failed := map[string]error{}
	lines := map[string]int64{}
	for _, row := range rows {
		if row.ProcessedAt != nil {
			continue
		}
		ev, err := linq.ParseWebhookEvent(row.Payload)
		if err != nil {
			failed[row.EventID] = fmt.Errorf("event %s: %w", row.EventID, err)
			continue
		}
		it := &item{row: row, ev: ev}
		switch ev.EventType {
		case linq.EventMessageReceived:
			it.msg = s.decodeMessage(ev)
		case linq.EventMessageSent, linq.EventMessageDelivered, linq.EventMessageRead:
			var d linq.MessageEventData
			if ev.DecodeMessageEvent(&d) == nil {
				it.sent = &d
				if id, err := uuid.Parse(d.IdempotencyKey); err == nil {
					it.messageID = id
				}
			}
		case linq.EventMessageFailed:
			var d linq.MessageFailedData
			if ev.DecodeMessageFailed(&d) == nil {
				it.failure = &d
				if err := s.failureMessage(ctx, tx, it); err != nil {
					return nil, nil, err
				}
			}
		}
		if it.msg != nil {
			if err := s.messageLine(ctx, tx, it.msg, lines); err != nil {
				return nil, nil, err
			}
		}
		items = append(items, it)
	}
	return items, failed, nil
}

// failureMessage looks up, without a lock, our id of the message a
// failure names, when Linq's id is linked to it already.
func (s *Service) failureMessage(ctx context.Context, tx pgx.Tx, it *item) error {
	if it.failure.MessageID == "" {
		return nil
	}
	id, err := s.q.MessageStatusMessageID(ctx, tx, it.failure.MessageID)
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("message of failure: %w", err)
	}
	it.messageID = id.Bytes
	return nil
}

// messageLine finds the line a message came to: the one its owner_handle
// names (looked up once per batch in lines), or, when Linq sent none (it
// may be null), the line of its chat or else of its sender. A message to a
// line that is not Linegate's keeps lineID 0.
func (s *Service) messageLine(ctx context.Context, tx pgx.Tx, m *message, lines map[string]int64) error {
	if m.lineNumber == "" {
		l, err := s.q.InboundLineByChat(ctx, tx, store.InboundLineByChatParams{LinqChatID: m.d.Chat.ID, Handle: m.sender})
		switch {
		case notFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("line by chat: %w", err)
		}
		m.lineID, m.lineNumber = l.ID, l.Number
		return nil
	}
	id, ok := lines[m.lineNumber]
	if !ok {
		var err error
		id, err = s.q.InboundLineByNumber(ctx, tx, m.lineNumber)
		switch {
		case notFound(err):
			id = 0
		case err != nil:
			return fmt.Errorf("line by number: %w", err)
		}
		lines[m.lineNumber] = id
	}
	m.lineID = id
	return nil
}
