package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/deeplink"
	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/handle"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// Opt-out sources stored on the user and sent to product.
const (
	SourceKeyword    = "keyword"
	SourceChatHealth = "chat_health"
	SourceMessage    = "message"
)

// ineligibleCode is Linq's "line may not send" error.
const ineligibleCode = 2027

// lineMayNotSend reports a failure that says the line may not send.
func lineMayNotSend(d *linq.MessageFailedData) bool {
	return d.Code == ineligibleCode || d.DetailCode != nil && *d.DetailCode == ineligibleCode
}

const chatOptedOut = "OPTED_OUT"

// eventTime is when Linq says the event happened, or now.
func (s *Service) eventTime(ev *linq.WebhookEvent) time.Time {
	if ev.CreatedAt.IsZero() {
		return s.cfg.Now().UTC()
	}
	return ev.CreatedAt.UTC()
}

func notFound(err error) bool { return errors.Is(store.Interpret(err), store.ErrNotFound) }

// message is a message.received event decoded, and its line looked up,
// before its batch takes any lock, so that the batch can be put in lock
// order (batch.go).
type message struct {
	d          linq.MessageEventData
	at         time.Time
	lineNumber string
	sender     string
	// lineID is the line the message came to, 0 when it names no line or
	// one that is not Linegate's.
	lineID int64
}

// decodeMessage reads a message.received event, in either webhook version,
// or returns nil when its data is malformed.
func (s *Service) decodeMessage(ev *linq.WebhookEvent) *message {
	m := &message{}
	if err := ev.DecodeMessageEvent(&m.d); err != nil {
		return nil
	}
	m.at = s.eventTime(ev)
	if m.d.Chat.OwnerHandle != nil {
		m.lineNumber = m.d.Chat.OwnerHandle.Handle
	}
	m.sender = s.normalize(m.d.SenderHandle.Handle)
	return m
}

// received handles message.received: bind a signup code, count the inbound,
// apply the opt-out rule, forward to product.
func (s *Service) received(ctx context.Context, tx pgx.Tx, pub *outbox, ev *linq.WebhookEvent, m *message) (string, error) {
	d, at, lineNumber, sender := &m.d, m.at, m.lineNumber, m.sender
	var text []string
	parts := make([]events.Part, 0, len(d.Parts))
	for _, p := range d.Parts {
		part := events.Part{Type: p.Type, Value: p.Value}
		if p.Type == "media" {
			// A media part carries its URL, not a value (wire doc §10.4).
			part = events.Part{Type: p.Type, Value: p.URL, MimeType: p.MimeType, Filename: p.Filename}
		}
		parts = append(parts, part)
		if p.Type == "text" {
			text = append(text, p.Value)
		}
	}
	body := strings.Join(text, "\n")

	var out []events.Event
	outcome := "counted"
	var userID *int64
	var userRef *string
	u, err := s.q.InboundUserByHandle(ctx, tx, sender)
	switch {
	case err == nil:
		userID, userRef = &u.ID, &u.UserRef
	case !notFound(err):
		return "", fmt.Errorf("user by handle: %w", err)
	default:
		if code, ok := deeplink.ExtractCode(body); ok {
			bound, err := s.bind(ctx, tx, code, sender, at)
			if err != nil {
				return "", err
			}
			if bound != nil {
				userID, userRef, outcome = &bound.ID, &bound.UserRef, "connected"
				out = append(out, events.Event{
					ID: events.DeriveID(events.TypeUserConnected, ev.EventID), Type: events.TypeUserConnected, OccurredAt: at,
					Data: events.UserConnected{UserRef: bound.UserRef, Handle: sender, Line: lineNumber, ConnectedAt: at},
				})
			}
		}
	}

	if m.lineID == 0 {
		outcome = "unknown_line"
	} else if err := s.inbound.RecordInboundTx(ctx, tx, m.lineID, userID, at); err != nil {
		return "", err
	}

	if userID != nil {
		health := ""
		if d.Chat.HealthStatus != nil {
			health = d.Chat.HealthStatus.Status
		}
		switch {
		case IsOptOut(body):
			e, err := s.optOut(ctx, tx, *userID, *userRef, SourceKeyword, at, ev.EventID)
			if err != nil {
				return "", err
			}
			out, outcome = append(out, e...), "opted_out"
		case health == chatOptedOut:
			e, err := s.optOut(ctx, tx, *userID, *userRef, SourceChatHealth, at, ev.EventID)
			if err != nil {
				return "", err
			}
			out = append(out, e...)
		default:
			// Every ordinary message is remembered, not only one that lifts
			// an opt-out now: an older STOP may still be on its way.
			lifted, err := s.q.InboundUserOptIn(ctx, tx, store.InboundUserOptInParams{ID: *userID, At: at})
			if err != nil {
				return "", fmt.Errorf("opt in: %w", err)
			}
			if lifted {
				outcome = "opted_in"
				out = append(out, events.Event{
					ID: events.DeriveID(events.TypeUserOptedIn, ev.EventID), Type: events.TypeUserOptedIn, OccurredAt: at,
					Data: events.UserOptChanged{UserRef: *userRef, Source: SourceMessage, At: at},
				})
			}
		}
	}

	out = append(out, events.Event{
		ID: events.DeriveID(events.TypeMessageReceived, ev.EventID), Type: events.TypeMessageReceived, OccurredAt: at,
		Data: events.MessageReceived{
			LinqMessageID: d.ID, UserRef: userRef, Handle: sender, Line: lineNumber, Service: d.Service,
			Text: body, Parts: parts, ReceivedAt: at, ReconciledAt: d.ReconciledAt,
		},
	})
	pub.add(out...)
	return outcome, nil
}

// bind gives a signup code's user the sender's handle, once: a user who has
// a handle already, or whose signup links have all expired, is not bound.
func (s *Service) bind(ctx context.Context, tx pgx.Tx, code, sender string, at time.Time) (*store.InboundUserByCodeRow, error) {
	u, err := s.q.InboundUserByCode(ctx, tx, store.InboundUserByCodeParams{Code: code, Now: at})
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("user by code: %w", err)
	}
	if u.Handle != nil || !u.Live {
		return nil, nil
	}
	n, err := s.q.InboundUserBindHandle(ctx, tx, store.InboundUserBindHandleParams{ID: u.ID, Handle: sender, Now: at})
	if err != nil {
		return nil, fmt.Errorf("bind handle: %w", store.Interpret(err))
	}
	if n == 0 {
		return nil, nil
	}
	return &u, nil
}

func (s *Service) optOut(ctx context.Context, tx pgx.Tx, userID int64, userRef, source string, at time.Time, linqEventID string) ([]events.Event, error) {
	n, err := s.q.InboundUserOptOut(ctx, tx, store.InboundUserOptOutParams{ID: userID, At: at, Source: source})
	if err != nil {
		return nil, fmt.Errorf("opt out: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	return []events.Event{{
		ID: events.DeriveID(events.TypeUserOptedOut, linqEventID), Type: events.TypeUserOptedOut, OccurredAt: at,
		Data: events.UserOptChanged{UserRef: userRef, Source: source, At: at},
	}}, nil
}

// status handles message.sent, .delivered and .read of messages sent
// through Linegate (their idempotency key is our message id).
func (s *Service) status(ctx context.Context, tx pgx.Tx, pub *outbox, ev *linq.WebhookEvent, d *linq.MessageEventData) (string, error) {
	if d == nil {
		return "malformed", nil
	}
	at := s.eventTime(ev)
	outcome := "not_ours"
	id, err := uuid.Parse(d.IdempotencyKey)
	if err != nil || d.ID == "" {
		return outcome, nil
	}
	mid := pgtype.UUID{Bytes: id, Valid: true}
	pending, err := s.q.MessageStatusLink(ctx, tx, store.MessageStatusLinkParams{LinqMessageID: d.ID, MessageID: mid, Now: at})
	if err != nil {
		return "", fmt.Errorf("link message: %w", err)
	}
	p := store.MessageStatusUpdateParams{ID: mid, Now: at, FailedAt: pending.FailedAt, ErrorCode: pending.ErrorCode,
		LinqMessageID: &d.ID}
	var r statusReport
	switch ev.EventType {
	case linq.EventMessageSent:
		p.SentAt = cmpTime(d.SentAt, at)
		r = statusReport{status: "sent", at: *p.SentAt}
	case linq.EventMessageDelivered:
		p.DeliveredAt = cmpTime(d.DeliveredAt, at)
		r = statusReport{status: "delivered", at: *p.DeliveredAt}
	case linq.EventMessageRead:
		p.ReadAt = cmpTime(d.ReadAt, at)
		r = statusReport{status: "read", at: *p.ReadAt}
	}
	return s.updateStatus(ctx, tx, pub, p, ev.EventID, r)
}

// statusReport is what one Linq event said about a message: the status and
// when the message reached it.
type statusReport struct {
	status string
	at     time.Time
}

func cmpTime(t *time.Time, fallback time.Time) *time.Time {
	if t != nil && !t.IsZero() {
		return t
	}
	return &fallback
}

func (s *Service) updateStatus(ctx context.Context, tx pgx.Tx, pub *outbox, p store.MessageStatusUpdateParams, linqEventID string, r statusReport) (string, error) {
	m, err := s.q.MessageStatusUpdate(ctx, tx, p)
	if notFound(err) {
		return "unknown_message", nil
	}
	if err != nil {
		return "", fmt.Errorf("update message status: %w", err)
	}
	pub.add(events.Event{
		ID: events.DeriveID(events.TypeMessageStatus, linqEventID), Type: events.TypeMessageStatus, OccurredAt: r.at,
		Data: events.MessageStatus{
			MessageID: uuid.UUID(m.ID.Bytes).String(), LinqMessageID: m.LinqMessageID, UserRef: m.UserRef,
			Status: r.status, CurrentStatus: m.DeliveryStatus, ErrorCode: m.ErrorCode, At: r.at,
		},
	})
	return "status_" + m.DeliveryStatus, nil
}

// failed handles message.failed: the message record, and a line Linq
// called ineligible goes to line health.
func (s *Service) failed(ctx context.Context, tx pgx.Tx, pub *outbox, ev *linq.WebhookEvent, d *linq.MessageFailedData) (string, error) {
	if d == nil {
		return "malformed", nil
	}
	at := d.FailedAt.UTC()
	if d.FailedAt.IsZero() {
		at = s.eventTime(ev)
	}
	outcome := "not_ours"
	var lineID int64
	if d.MessageID != "" {
		mid, err := s.q.MessageStatusFailed(ctx, tx, store.MessageStatusFailedParams{
			LinqMessageID: d.MessageID, FailedAt: at, ErrorCode: int32(d.Code), Now: s.cfg.Now().UTC(),
		})
		if err != nil {
			return "", fmt.Errorf("record failure: %w", err)
		}
		if mid.Valid {
			code := int32(d.Code)
			if outcome, err = s.updateStatus(ctx, tx, pub, store.MessageStatusUpdateParams{
				ID: mid, Now: at, FailedAt: &at, ErrorCode: &code, LinqMessageID: &d.MessageID,
			}, ev.EventID, statusReport{status: "failed", at: at}); err != nil {
				return "", err
			}
		} else {
			outcome = "failure_pending"
		}
	}
	if !lineMayNotSend(d) {
		return outcome, nil
	}
	if d.ChatID != "" {
		c, err := s.q.InboundUserByChat(ctx, tx, d.ChatID)
		switch {
		case err == nil:
			lineID = c.LineID
		case !notFound(err):
			return "", fmt.Errorf("chat line: %w", err)
		}
	}
	if lineID == 0 || s.health == nil {
		return outcome + ",ineligible_unrouted", nil
	}
	err := s.health.Apply(ctx, tx, health.Input{
		LineID: lineID, Source: health.SourceFailed, At: at, Ineligible: true, EventID: ev.EventID,
	})
	if err != nil {
		return "", fmt.Errorf("line health: %w", err)
	}
	return outcome + ",ineligible", nil
}

// lineStatus hands phone_number.status_updated to line health.
func (s *Service) lineStatus(ctx context.Context, tx pgx.Tx, ev *linq.WebhookEvent) (string, error) {
	var d linq.PhoneNumberStatusUpdatedData
	if err := ev.DecodeData(&d); err != nil || d.PhoneNumber == "" {
		return "malformed", nil
	}
	if s.health == nil {
		return "stored", nil
	}
	_, rep := d.Reputations()
	outcome := "line_status"
	// Both are read as the line sync and the poll read them: an unknown
	// status is left as stored, an unknown reputation kept as at risk.
	status := d.NewStatus
	if status != "" {
		var known bool
		if status, known = lines.ReadStatus(status); !known {
			outcome = "line_status,unknown_status"
		}
	}
	if rep != "" {
		var known bool
		if rep, known = lines.ReadReputation(rep); !known {
			outcome = "line_status,unknown_reputation"
		}
	}
	err := s.health.Apply(ctx, tx, health.Input{
		Number: d.PhoneNumber, Source: health.SourceWebhook, At: s.eventTime(ev),
		ServiceStatus: status, Reputation: rep, EventID: ev.EventID,
	})
	if apperr.IsCode(err, "line_not_found") {
		// Not a line of this pool (yet): the line sync adds Linq's lines
		// with their status; a retry would find nothing more.
		return "unknown_line", nil
	}
	if err != nil {
		return "", fmt.Errorf("line health: %w", err)
	}
	return outcome, nil
}

// chatCreated opts out the other participant of a chat Linq reports as
// OPTED_OUT.
func (s *Service) chatCreated(ctx context.Context, tx pgx.Tx, pub *outbox, ev *linq.WebhookEvent) (string, error) {
	var d linq.ChatCreatedData
	if err := ev.DecodeData(&d); err != nil {
		return "malformed", nil
	}
	if d.HealthStatus == nil || d.HealthStatus.Status != chatOptedOut || d.IsGroup {
		return "ignored", nil
	}
	at := s.eventTime(ev)
	var out []events.Event
	for _, h := range d.Handles {
		if h.IsMe != nil && *h.IsMe {
			continue
		}
		u, err := s.q.InboundUserByHandle(ctx, tx, s.normalize(h.Handle))
		if notFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("user by handle: %w", err)
		}
		evs, err := s.optOut(ctx, tx, u.ID, u.UserRef, SourceChatHealth, at, ev.EventID)
		if err != nil {
			return "", err
		}
		out = append(out, evs...)
	}
	pub.add(out...)
	return "chat_health", nil
}

// normalize is a handle's canonical form (handle.Parse), or raw when it
// does not parse.
func (s *Service) normalize(raw string) string {
	if h, err := handle.Parse(raw, s.cfg.DefaultRegion); err == nil {
		return h.Value
	}
	return raw
}

// chatOptOut opts out the user of a chat Linegate created, when Linq shows
// the chat OPTED_OUT.
func (s *Service) chatOptOut(ctx context.Context, tx pgx.Tx, pub *outbox, chatID string, at time.Time, linqEventID string) error {
	if chatID == "" {
		return nil
	}
	c, err := s.q.InboundUserByChat(ctx, tx, chatID)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("chat user: %w", err)
	}
	evs, err := s.optOut(ctx, tx, c.UserID, c.UserRef, SourceChatHealth, at, linqEventID)
	if err != nil {
		return err
	}
	pub.add(evs...)
	return nil
}
