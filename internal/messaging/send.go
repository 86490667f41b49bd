package messaging

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/groupcommit"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
)

// Config tunes the service. Every field is used as given (the defaults live
// in internal/config); DefaultConfig holds them for tests.
type Config struct {
	// DefaultRegion reads phone numbers without a leading + (ISO 3166-1).
	DefaultRegion string
	// StoreMessageText keeps the parts of each message once it is sent.
	StoreMessageText bool
	// IdempotencyKeepFor is how long a key is remembered.
	IdempotencyKeepFor time.Duration
	// MessagesRetention is how long messages are kept (MaintainPartitions).
	MessagesRetention time.Duration
	// SendTimeout bounds one send: Linq retries and the wait for a
	// duplicate in flight both end by it. A send's lease, after which
	// another request may take it over, is SendTimeout plus LeaseSlack.
	SendTimeout time.Duration
	// Now stamps records (an opt-out's time); no decision reads it, they
	// all run on the database's clock.
	Now func() time.Time
}

// LeaseSlack is added to SendTimeout for a send's lease, so that a send in
// flight is never taken over while its own call can still succeed.
const LeaseSlack = 5 * time.Second

// DefaultConfig is the configuration's defaults.
func DefaultConfig() Config {
	return Config{DefaultRegion: "US", IdempotencyKeepFor: 48 * time.Hour, MessagesRetention: 30 * 24 * time.Hour,
		SendTimeout: 15 * time.Second, Now: time.Now}
}

// Service sends messages and passes actions through.
type Service struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	linq    *linq.Client
	lim     *ratelimit.Limiter
	log     *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	// settings are send_admit's (and line_policy's), as JSON, built once
	// (again by SetHealth).
	settings []byte
	// admits gathers concurrent admissions into one statement and commit.
	admits  *groupcommit.Batcher[admitCall, admission]
	marks   *groupcommit.Batcher[sentCall, bool]
	waiters *waiters
	// behind counts the answers being recorded after the caller has them.
	behind sync.WaitGroup
	// health is line health (SetHealth): 2027 answers go to it, and it says
	// when a send must open the chat with the continuation text.
	health Health
	// Counters of the hot path, resolved once instead of per send.
	okSend, okCreate prometheus.Counter
}

// New returns a Service. Close stops its listener for duplicates.
func New(pool *pgxpool.Pool, client *linq.Client, limiter *ratelimit.Limiter, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if m == nil {
		m = metrics.New()
	}
	logger = cmp.Or(logger, slog.Default())
	s := &Service{pool: pool, q: store.New(), linq: client, lim: limiter, log: logger, metrics: m, cfg: cfg,
		waiters:  newWaiters(pool, logger),
		okSend:   m.UpstreamRequests.WithLabelValues("send_message", "ok"),
		okCreate: m.UpstreamRequests.WithLabelValues("create_chat", "ok"),
	}
	s.settings = s.admitSettings(nil)
	s.admits = groupcommit.New(batchConfig(m, "send_admission", cfg.SendTimeout), s.admitBatch)
	s.marks = groupcommit.New(batchConfig(m, "send_outcome", recordTimeout), s.recordSentBatch)
	return s
}

// admitSettings are send_admit_many's settings; continuationAfter are the
// line ledger's reasons of a move after which a user's first send on their
// new line opens the chat with the continuation text (none: never).
func (s *Service) admitSettings(continuationAfter []string) []byte {
	return s.lim.Settings(map[string]any{
		"lease_ms":           (s.cfg.SendTimeout + LeaseSlack).Milliseconds(),
		"keep_ms":            s.cfg.IdempotencyKeepFor.Milliseconds(),
		"keep_body":          s.cfg.StoreMessageText,
		"continuation_after": append([]string{}, continuationAfter...),
	})
}

// batchConfig sizes the send path's group commits: up to 64 calls a
// batch, one batch in flight while the next gathers. A second flight runs
// two batches' admissions at once, which then wait on each other's line
// rows and split the queue into batches half the size: on a 2-core box with
// Postgres beside the gateway, one flight admitted 1.3-1.4 times the sends
// at 4 and 8 clients, with a lower p50.
func batchConfig(m *metrics.Metrics, name string, timeout time.Duration) groupcommit.Config {
	sizes := m.GroupCommitSize.WithLabelValues(name)
	return groupcommit.Config{Max: 64, Flights: 1, Timeout: timeout, Observe: func(n int) { sizes.Observe(float64(n)) }}
}

// Close waits for the answers still being recorded (recordBehind), then
// stops the listener that wakes duplicates waiting for a send.
func (s *Service) Close() {
	s.Settle()
	s.waiters.close()
}

// Settle waits until the Linq answers of the sends that have returned are
// recorded.
func (s *Service) Settle() { s.behind.Wait() }

// SendRequest is one message to a user. Exactly one of UserRef and Handle
// names the recipient, who must be a Linegate user (their line is theirs).
type SendRequest struct {
	// APIKeyID scopes the idempotency key to the caller.
	APIKeyID         int64         `json:"-"`
	UserRef          string        `json:"user_ref,omitempty"`
	Handle           string        `json:"handle,omitempty"`
	Parts            []linq.Part   `json:"parts"`
	PreferredService string        `json:"preferred_service,omitempty"`
	Effect           *linq.Effect  `json:"effect,omitempty"`
	ReplyTo          *linq.ReplyTo `json:"reply_to,omitempty"`
	IdempotencyKey   string        `json:"-"`
	// Intent is "proactive" (default) or "reply"; only replies to a user
	// who wrote within the reply window may use the line's reply reserve.
	Intent string `json:"intent,omitempty"`
}

// LineRef names a line.
type LineRef struct {
	ID     int64  `json:"id"`
	Number string `json:"number"`
}

// Sent is the answer to a send; a replay answers the same.
type Sent struct {
	ID            string  `json:"id"`
	UserRef       string  `json:"user_ref"`
	Line          LineRef `json:"line"`
	ChatID        string  `json:"chat_id"`
	LinqMessageID string  `json:"linq_message_id"`
	// TraceID is null when Linq gave none, as in GET /v1/messages/{id}.
	TraceID *string `json:"trace_id"`
	// IdempotencyKey is the caller's, or the one derived for a send
	// without (the message id), which a retry may use.
	IdempotencyKey string `json:"idempotency_key"`
	Status         string `json:"status"`
	// Replayed is set when the answer is the stored one of an earlier send.
	Replayed bool `json:"-"`
}

// admission is send_admit's answer in the package's own terms.
type admission struct {
	outcome  string
	takeover bool // a resend of a message whose first attempt may be at Linq
	recovery bool // the recovery job's resend (Recover)
	id       uuid.UUID
	userID   int64
	userRef  string
	handle   string
	line     LineRef
	chatID   string
	retry    time.Duration
	quar     bool
	why      string
	linqID   string
	trace    string
	status   string
	at       time.Time     // the admission's pair stamp (database clock)
	leaseFor time.Duration // in_progress: how long the send in flight holds its lease

	// continuation: the send holds a continuation's admission (its stamp
	// is the microsecond after at) and, when it has no chat, opens it with
	// the continuation text first.
	continuation bool
}

// admitCall is one send's input to send_admit.
type admitCall struct {
	id                           uuid.UUID
	apiKeyID                     int64
	key, userRef, handle, intent string
	hash, body                   []byte
}

// admit runs send_admit for one send, in a batch with the sends admitted
// at the same moment (group commit: one statement, one commit).
func (s *Service) admit(ctx context.Context, req SendRequest, id uuid.UUID, key string, body []byte) (admission, error) {
	return s.admits.Do(ctx, newAdmitCall(req, id, key, body))
}

// newAdmitCall is req's input to send_admit_many, as message id, holding
// key and kept parts (body).
func newAdmitCall(req SendRequest, id uuid.UUID, key string, body []byte) admitCall {
	return admitCall{
		id: id, apiKeyID: req.APIKeyID, key: key, userRef: req.UserRef, handle: req.Handle, intent: req.Intent,
		hash: requestHash(req), body: body,
	}
}

// admitBatch decides a batch of admissions in one statement.
func (s *Service) admitBatch(ctx context.Context, calls []admitCall) ([]admission, error) {
	p := store.MessageAdmitManyParams{
		Ids: make([]pgtype.UUID, len(calls)), ApiKeyIds: make([]int64, len(calls)),
		IdempotencyKeys: make([]string, len(calls)), RequestHashes: make([][]byte, len(calls)),
		UserRefs: make([]string, len(calls)), Handles: make([]string, len(calls)), Intents: make([]string, len(calls)),
		Bodies: make([][]byte, len(calls)), Settings: s.settings,
	}
	for i, c := range calls {
		p.Ids[i], p.ApiKeyIds[i], p.IdempotencyKeys[i], p.RequestHashes[i] = pgUUID(c.id), c.apiKeyID, c.key, c.hash
		p.UserRefs[i], p.Handles[i], p.Intents[i], p.Bodies[i] = c.userRef, c.handle, c.intent, c.body
	}
	rows, err := store.RetryDeadlocked(ctx, func() ([]store.MessageAdmitManyRow, error) {
		return s.q.MessageAdmitMany(ctx, s.pool, p)
	})
	if err != nil {
		return nil, err
	}
	if len(rows) != len(calls) {
		return nil, fmt.Errorf("admission answered %d of %d sends", len(rows), len(calls))
	}
	out := make([]admission, len(calls))
	for _, row := range rows {
		out[row.N-1] = admission{
			outcome: row.Outcome, takeover: row.Takeover, id: uuid.UUID(row.MessageID.Bytes), userID: row.UserID,
			userRef: row.UserRef, handle: row.Handle, line: LineRef{ID: row.LineID, Number: row.LineNumber},
			chatID: row.ChatID, retry: time.Duration(row.RetryAfterMs) * time.Millisecond, quar: row.Quarantined,
			why: row.Why, linqID: row.LinqMessageID, trace: row.TraceID, status: row.DeliveryStatus,
			at: row.AdmittedAt, leaseFor: row.LeaseUntil.Sub(row.AdmittedAt), continuation: row.Continuation,
		}
	}
	return out, nil
}

// Send admits and sends one message.
func (s *Service) Send(ctx context.Context, req SendRequest) (*Sent, error) {
	if err := s.validate(&req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()

	id := newMessageID()
	key := req.IdempotencyKey
	if key == "" {
		key = id.String() // derived: the caller learns it from the answer
	}
	// The parts are kept while the outcome is open: the recovery job
	// resends them if this replica dies before recording Linq's answer.
	body, err := storeSend(req)
	if err != nil {
		return nil, err
	}

	var a admission
	for {
		a, err = s.admit(ctx, req, id, key, body)
		if err != nil {
			if ctx.Err() != nil {
				return nil, inProgress(key)
			}
			return nil, fmt.Errorf("admit send: %w", err)
		}
		if a.outcome != "in_progress" {
			break
		}
		// A duplicate is in flight: wait for it to end (or its lease).
		if !s.waiters.await(ctx, s.q, req.APIKeyID, key, a.id, a.leaseFor) {
			return nil, inProgress(key)
		}
	}

	switch a.outcome {
	case ratelimit.OutcomeOK:
	case "replay":
		return &Sent{
			ID: a.id.String(), UserRef: a.userRef, Line: a.line, ChatID: a.chatID, LinqMessageID: a.linqID,
			TraceID: nullable(a.trace), IdempotencyKey: key, Status: a.status, Replayed: true,
		}, nil
	case "key_reused":
		return nil, apperr.New(apperr.Unprocessable, "idempotency_key_reused",
			"this idempotency_key was used for a different request")
	case "user_not_found":
		return nil, apperr.New(apperr.NotFound, "user_not_found", "no user with this user_ref or handle")
	case "recipient_gone":
		// A retry of a send whose outcome is unknown, to a user deleted
		// or given another handle since: nothing more goes to that handle.
		return nil, apperr.New(apperr.NotFound, "user_not_found",
			"the user this message was for was deleted or has another handle since its first attempt; nothing more was sent")
	case "no_handle":
		return nil, apperr.New(apperr.Conflict, "user_not_connected",
			"the user has not written to their line yet, so Linegate has no handle to send to")
	case "opted_out":
		s.metrics.SendsRefused.WithLabelValues("opted_out").Inc()
		return nil, optedOut()
	default:
		if stranded(a.outcome, a.why) {
			return nil, s.noHealthyLine(ctx, a)
		}
		return nil, s.lim.Check(ctx, a.line.ID, a.handle, ratelimit.Decision{
			Outcome: a.outcome, RetryAfter: a.retry, Quarantined: a.quar, Why: a.why,
		})
	}

	// Admitted: from here the send runs to its end even if the caller goes
	// away (a cancelled call would leave its outcome unknown), within the
	// request's own deadline.
	deadline, _ := ctx.Deadline()
	dctx, dcancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer dcancel()
	return s.deliver(dctx, req.Parts, linqOptions{PreferredService: req.PreferredService, Effect: req.Effect, ReplyTo: req.ReplyTo}, a, key, true)
}

// linqOptions are the parts of a send besides its parts that Linq takes.
type linqOptions struct {
	PreferredService string        `json:"preferred_service,omitempty"`
	Effect           *linq.Effect  `json:"effect,omitempty"`
	ReplyTo          *linq.ReplyTo `json:"reply_to,omitempty"`
}

// deliver makes the Linq call of an admitted send and records its answer:
// before returning, or with answerFirst behind it when the send opened no
// chat (recordBehind). The first send on a line the user was moved to goes
// out after the continuation text (admitted with it), on the chat that
// text opened. A first
// attempt on a recorded chat that Linq no longer knows (chatLost) forgets
// that chat and goes out again as a send to a user without one.
func (s *Service) deliver(ctx context.Context, parts []linq.Part, o linqOptions, a admission, key string, answerFirst bool) (*Sent, error) {
	onRecord := a.chatID != "" // not a chat the continuation opens below
	if a.chatID == "" && a.continuation {
		chatID, err := s.openChat(ctx, a, key)
		if err != nil {
			return nil, err
		}
		a.chatID = chatID
	}
	// The continuation is at Linq: its slot is no longer the send's to
	// give back.
	a.continuation = false
	content := linq.MessageContent{
		Parts: parts, IdempotencyKey: a.id.String(), PreferredService: o.PreferredService,
		Effect: o.Effect, ReplyTo: o.ReplyTo,
	}
	newChat := a.chatID == ""
	var (
		chatID, msgID, status, trace string
		err                          error
	)
	op := "send_message"
	if newChat {
		op = "create_chat"
		var resp *linq.CreateChatResponse
		resp, err = s.linq.CreateChat(ctx, linq.CreateChatRequest{From: a.line.Number, To: []string{a.handle}, Message: content})
		if err == nil {
			chatID, msgID, status, trace = resp.Chat.ID, resp.Chat.Message.ID, resp.Chat.Message.DeliveryStatus, resp.TraceID
		}
	} else {
		var resp *linq.SendMessageResponse
		resp, err = s.linq.SendMessage(ctx, a.chatID, linq.SendMessageRequest{Message: content})
		if err == nil {
			chatID, msgID, status, trace = cmp.Or(resp.ChatID, a.chatID), resp.Message.ID, resp.Message.DeliveryStatus, resp.TraceID
		} else if onRecord && chatLost(a, err) {
			s.forgetChat(ctx, a)
			a.chatID = ""
			return s.deliver(ctx, parts, o, a, key, answerFirst)
		}
	}

	// The answer must be recorded even when the send's time ran out.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err != nil {
		s.recordFailure(rctx, a, linq.NotSent(err), settled(err))
		return nil, s.upstreamError(rctx, op, err, target{lineID: a.line.ID, userID: a.userID, newChat: newChat, key: key})
	}
	if newChat {
		s.okCreate.Inc()
	} else {
		s.okSend.Inc()
	}
	s.metrics.SendsAccepted.Inc()
	c := sentCall{id: a.id, lineID: a.line.ID, handle: a.handle,
		chatID: chatID, msgID: msgID, trace: trace, status: status, newChat: newChat}
	if newChat || !answerFirst {
		// A new chat must be on record before the user's next send reads
		// it, or that send would open a second one.
		s.recordOrLog(rctx, c)
	} else {
		s.recordBehind(ctx, c)
	}
	return &Sent{
		ID: a.id.String(), UserRef: a.userRef, Line: a.line, ChatID: chatID, LinqMessageID: msgID,
		TraceID: nullable(trace), IdempotencyKey: key, Status: status,
	}, nil
}

// settled says that a failed Linq call leaves nothing open: Linq refused it,
// or it cannot be sent as given. One whose outcome is unknown, or that ran
// out of time before it was made, may yet go through.
func settled(err error) bool {
	return linq.NotSent(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// sentCall is one send's answer from Linq, to record.
type sentCall struct {
	id                           uuid.UUID
	lineID                       int64
	handle                       string
	chatID, msgID, trace, status string
	newChat                      bool
	// behind: the caller already has the answer (recordBehind), so the
	// record need not wait for its WAL flush.
	behind bool
}

// recordOrLog records Linq's answer to a send. Should that fail, Linq sent
// it all the same: a retry with the key finds the message pending until the
// lease ends, then sends again under the same Linq key, which Linq answers
// with this message (so does the recovery job).
func (s *Service) recordOrLog(ctx context.Context, c sentCall) {
	if err := s.recordSent(ctx, c); err != nil {
		s.log.ErrorContext(ctx, "record sent message", slog.Any("error", err))
	}
}

// recordBehind records Linq's answer to a send on an open chat while the
// caller already has it: the answer is Linq's and stays true whether or not
// the record commits, and what the record guards is kept by other means
// until it does (see the package doc), so its commit does not wait for the
// WAL flush either (recordSentBatch). Close waits for the records in
// flight.
func (s *Service) recordBehind(ctx context.Context, c sentCall) {
	c.behind = true
	s.behind.Add(1)
	go func() {
		defer s.behind.Done()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		s.recordOrLog(rctx, c)
	}()
}

// recordSent stores Linq's answer (and the new chat), moves the send's pair
// stamp to now, and wakes duplicates waiting for it. Answers arriving at
// the same moment are recorded in one statement and one commit.
func (s *Service) recordSent(ctx context.Context, c sentCall) error {
	awaited, err := s.marks.Do(ctx, c)
	if err != nil {
		return err
	}
	s.wake(ctx, c.id, awaited)
	return nil
}

// recordSentBatch records a batch of Linq's answers in one statement. Its
// commit waits for the WAL flush only when a caller waits for the record: a
// batch recorded behind its callers' answers commits without, and the next
// admission's commit flushes it. A replica's cycle then has one flush
// instead of two; in alternated bench rounds at 4 clients the sends' p50
// fell by 0.2-0.5 ms.
func (s *Service) recordSentBatch(ctx context.Context, calls []sentCall) ([]bool, error) {
	p := store.MessageMarkSentManyParams{
		Ids: make([]pgtype.UUID, len(calls)), LineIds: make([]int64, len(calls)), Handles: make([]string, len(calls)),
		LinqChatIds:    make([]string, len(calls)),
		LinqMessageIds: make([]string, len(calls)), TraceIds: make([]string, len(calls)),
		DeliveryStatuses: make([]string, len(calls)), NewChats: make([]bool, len(calls)),
		KeepBody: s.cfg.StoreMessageText,
		Flush:    slices.ContainsFunc(calls, func(c sentCall) bool { return !c.behind }),
	}
	for i, c := range calls {
		p.Ids[i], p.LineIds[i], p.Handles[i] = pgUUID(c.id), c.lineID, c.handle
		p.LinqChatIds[i], p.LinqMessageIds[i] = c.chatID, c.msgID
		p.TraceIds[i], p.DeliveryStatuses[i], p.NewChats[i] = c.trace, c.status, c.newChat
	}
	rows, err := store.RetryDeadlocked(ctx, func() ([]store.MessageMarkSentManyRow, error) {
		return s.q.MessageMarkSentMany(ctx, s.pool, p)
	})
	if err != nil {
		return nil, err
	}
	if len(rows) != len(calls) {
		return nil, fmt.Errorf("recording answered %d of %d sends", len(rows), len(calls))
	}
	awaited := make([]bool, len(calls))
	for _, row := range rows {
		awaited[row.N-1] = row.Awaited
	}
	return awaited, nil
}

// recordFailure settles a send Linq did not accept. Only a first attempt
// that Linq certainly did not send gives its slot and key back (and the
// slot of its continuation, when that was not sent either); a resend
// (takeover) may be at Linq from its first attempt, so it keeps both, and a
// retry with the key resends under the same Linq key. The recovery job's
// resend is left pending unless the failure is final (settled): its caller
// may have been told it was sent, and a later run resends it.
func (s *Service) recordFailure(ctx context.Context, a admission, notSent, final bool) {
	if a.recovery && !final {
		return
	}
	var (
		awaited bool
		err     error
	)
	if notSent && !a.takeover {
		var more []time.Time
		if a.continuation {
			more = append(more, a.at.Add(time.Microsecond)) // send_admit_many's continuation stamp
		}
		if err = s.lim.GiveBack(ctx, a.line.ID, []string{a.handle}, a.at, more...); err == nil {
			awaited, err = s.q.MessageDelete(ctx, s.pool, pgUUID(a.id))
		}
	} else {
		awaited, err = s.q.MessageMarkFailed(ctx, s.pool, store.MessageMarkFailedParams{ID: pgUUID(a.id), KeepBody: s.cfg.StoreMessageText})
	}
	if err != nil && !errors.Is(store.Interpret(err), store.ErrNotFound) {
		s.log.ErrorContext(ctx, "record failed send", slog.Any("error", err))
	}
	s.wake(ctx, a.id, awaited)
}

// wake notifies duplicates waiting for the send, when there are any.
func (s *Service) wake(ctx context.Context, id uuid.UUID, awaited bool) {
	if !awaited {
		return
	}
	if err := s.q.MessageNotifyDone(ctx, s.pool, pgUUID(id)); err != nil {
		s.log.WarnContext(ctx, "wake duplicates", slog.Any("error", err))
	}
}

// CleanupIdempotency forgets idempotency keys older than IdempotencyKeepFor
// (the messages stay) and returns how many; the lead schedules it.
func (s *Service) CleanupIdempotency(ctx context.Context) (int64, error) {
	const batch = 5000
	var total int64
	for {
		n, err := s.q.MessageExpireKeys(ctx, s.pool, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("expire idempotency keys: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}

// storedSend is what the messages row keeps of a send while its outcome
// is open (and after, with StoreMessageText): everything the recovery job
// needs to send the same message again.
type storedSend struct {
	Parts []linq.Part `json:"parts"`
	linqOptions
}

// storeSend encodes the send as the messages row keeps it.
func storeSend(req SendRequest) ([]byte, error) {
	b, err := json.Marshal(storedSend{Parts: req.Parts, linqOptions: linqOptions{PreferredService: req.PreferredService,
		Effect: req.Effect, ReplyTo: req.ReplyTo}})
	if err != nil {
		return nil, fmt.Errorf("encode send: %w", err)
	}
	return b, nil
}

// readStored reads a kept send; rows written before the options were kept
// hold the parts alone, as an array.
func readStored(b []byte) (storedSend, error) {
	var st storedSend
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		err := json.Unmarshal(t, &st.Parts)
		return st, err
	}
	err := json.Unmarshal(b, &st)
	return st, err
}

func inProgress(key string) error {
	e := apperr.New(apperr.Conflict, "idempotency_in_progress",
		"a request with this idempotency_key is still being processed; retry shortly")
	e.Details = map[string]any{"idempotency_key": key}
	return e
}

func optedOut() error {
	return apperr.New(apperr.Conflict, "opted_out", "the user has opted out of messages; nothing was sent")
}

// requestHash fingerprints everything of a send but the key itself.
func requestHash(req SendRequest) []byte {
	b, _ := json.Marshal(req) // APIKeyID and IdempotencyKey are not marshalled
	sum := sha256.Sum256(b)
	return sum[:]
}

// newMessageID returns a time-ordered (version 7) id, so that the inserts of
// the messages primary key (and of the derived idempotency keys) land on
// the right edge of their B-trees instead of on random pages.
func newMessageID() uuid.UUID {
	if id, err := uuid.NewV7(); err == nil {
		return id
	}
	return uuid.New()
}

// pgUUID converts at the store boundary.
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

var errNotUUID = errors.New("not a uuid")

func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errNotUUID
	}
	return id, nil
}
