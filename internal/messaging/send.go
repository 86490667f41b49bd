package messaging

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
)

// Defaults for Config.
const (
	DefaultSendTimeout        = 15 * time.Second
	DefaultIdempotencyKeepFor = 48 * time.Hour
	DefaultPollInterval       = 20 * time.Millisecond
	DefaultRegion             = "US"
)

// Config tunes the service; zero values take the defaults.
type Config struct {
	// DefaultRegion reads phone numbers without a leading + (ISO 3166-1).
	DefaultRegion string
	// StoreMessageText keeps the parts of each message; off by default.
	StoreMessageText bool
	// IdempotencyKeepFor is how long a key is remembered (at least 24 h).
	IdempotencyKeepFor time.Duration
	// SendTimeout bounds one send: Linq retries and the wait for a
	// duplicate in flight both end by it.
	SendTimeout time.Duration
	// PollInterval is how often a duplicate checks on the send in flight.
	PollInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
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
	// admit holds send_admit's settings, converted once; each send copies
	// it and fills in its own fields (see admitParams).
	admit store.MessageAdmitParams
	// Counters of the hot path, resolved once instead of per send.
	okSend, okCreate prometheus.Counter
}

// New returns a Service.
func New(pool *pgxpool.Pool, client *linq.Client, limiter *ratelimit.Limiter, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	cfg.DefaultRegion = cmp.Or(cfg.DefaultRegion, DefaultRegion)
	cfg.IdempotencyKeepFor = max(cmp.Or(cfg.IdempotencyKeepFor, DefaultIdempotencyKeepFor), 24*time.Hour)
	cfg.SendTimeout = cmp.Or(cfg.SendTimeout, DefaultSendTimeout)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if m == nil {
		m = metrics.New()
	}
	lim := limiter.Limits()
	return &Service{pool: pool, q: store.New(), linq: client, lim: limiter, log: cmp.Or(logger, slog.Default()),
		metrics: m, cfg: cfg,
		admit: store.MessageAdmitParams{
			Lease: ratelimit.Interval(cfg.SendTimeout + 5*time.Second), Keep: ratelimit.Interval(cfg.IdempotencyKeepFor),
			ReplyWindow: ratelimit.Interval(lim.ReplyWindow), PairLimit: int32(lim.PairLimit),
			PairWindow: ratelimit.Interval(lim.PairWindow), HitLimit: int32(lim.HitLimit),
			HitWindow: ratelimit.Interval(lim.HitWindow), Quarantine: ratelimit.Interval(lim.QuarantineFor),
			Budget: int32(lim.DailyBudget), Warmup: ratelimit.Interval(lim.Warmup), Reserve: lim.ReplyReserve,
		},
		okSend:   m.UpstreamRequests.WithLabelValues("send_message", "ok"),
		okCreate: m.UpstreamRequests.WithLabelValues("create_chat", "ok"),
	}
}

// admitParams are send_admit's arguments for a validated send with message
// id and idempotency key; the caller sets Now.
func (s *Service) admitParams(req SendRequest, id uuid.UUID, key string, body []byte) store.MessageAdmitParams {
	p := s.admit
	p.ID, p.ApiKeyID, p.IdempotencyKey, p.RequestHash = pgUUID(id), req.APIKeyID, key, requestHash(req)
	p.UserRef, p.Handle, p.Intent, p.Body = nonEmpty(req.UserRef), nonEmpty(req.Handle), req.Intent, body
	return p
}

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
	ID             string  `json:"id"`
	UserRef        string  `json:"user_ref"`
	Line           LineRef `json:"line"`
	ChatID         string  `json:"chat_id"`
	LinqMessageID  string  `json:"linq_message_id"`
	TraceID        string  `json:"trace_id"`
	IdempotencyKey string  `json:"idempotency_key"`
	Status         string  `json:"status"`
	// Replayed is set when the answer is the stored one of an earlier send.
	Replayed bool `json:"-"`
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
	var body []byte
	if s.cfg.StoreMessageText {
		body, _ = json.Marshal(req.Parts)
	}
	params := s.admitParams(req, id, key, body)

	var row store.MessageAdmitRow
	for {
		params.Now = ratelimit.Micro(s.cfg.Now())
		var err error
		row, err = s.q.MessageAdmit(ctx, s.pool, params)
		if err != nil {
			if ctx.Err() != nil {
				return nil, inProgress(key)
			}
			return nil, fmt.Errorf("admit send: %w", err)
		}
		if row.Outcome != "in_progress" {
			break
		}
		if !sleep(ctx, s.cfg.PollInterval) {
			return nil, inProgress(key)
		}
	}

	switch row.Outcome {
	case "ok":
	case "replay":
		return &Sent{
			ID: uuidString(row.MessageID), UserRef: row.UserRef, Line: LineRef{ID: row.LineID, Number: row.LineNumber},
			ChatID: row.ChatID, LinqMessageID: row.LinqMessageID, TraceID: row.TraceID, IdempotencyKey: key,
			Status: row.DeliveryStatus, Replayed: true,
		}, nil
	case "key_reused":
		return nil, apperr.New(apperr.Unprocessable, "idempotency_key_reused",
			"this idempotency_key was used for a different request")
	case "user_not_found":
		return nil, apperr.New(apperr.NotFound, "user_not_found", "no user with this user_ref or handle")
	case "no_handle":
		return nil, apperr.New(apperr.Conflict, "user_not_connected",
			"the user has not written to their line yet, so Linegate has no handle to send to")
	case "opted_out":
		s.metrics.SendsRefused.WithLabelValues("opted_out").Inc()
		return nil, optedOut()
	default:
		return nil, s.lim.Check(ctx, row.LineID, row.Handle, ratelimit.Decision{
			Outcome: row.Outcome, RetryAfter: time.Duration(row.RetryAfterMs) * time.Millisecond, Quarantined: row.Quarantined,
		})
	}

	return s.deliver(ctx, req, row, key)
}

// deliver makes the Linq call of an admitted send and records its answer.
func (s *Service) deliver(ctx context.Context, req SendRequest, row store.MessageAdmitRow, key string) (*Sent, error) {
	content := linq.MessageContent{
		Parts: req.Parts, IdempotencyKey: uuidString(row.MessageID), PreferredService: req.PreferredService,
		Effect: req.Effect, ReplyTo: req.ReplyTo,
	}
	newChat := row.ChatID == ""
	var (
		chatID, msgID, status, trace string
		err                          error
	)
	op := "send_message"
	if newChat {
		op = "create_chat"
		var resp *linq.CreateChatResponse
		resp, err = s.linq.CreateChat(ctx, linq.CreateChatRequest{From: row.LineNumber, To: []string{row.Handle}, Message: content})
		if err == nil {
			chatID, msgID, status, trace = resp.Chat.ID, resp.Chat.Message.ID, resp.Chat.Message.DeliveryStatus, resp.TraceID
		}
	} else {
		var resp *linq.SendMessageResponse
		resp, err = s.linq.SendMessage(ctx, row.ChatID, linq.SendMessageRequest{Message: content})
		if err == nil {
			chatID, msgID, status, trace = cmp.Or(resp.ChatID, row.ChatID), resp.Message.ID, resp.Message.DeliveryStatus, resp.TraceID
		}
	}

	// The answer must be recorded even when the caller has gone.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := ratelimit.Micro(s.cfg.Now())
	if err != nil {
		if linq.NotSent(err) {
			if gerr := s.giveBack(rctx, row.MessageID, row.LineID, row.Handle, row.AdmittedAt); gerr != nil {
				s.log.ErrorContext(ctx, "give back refused send", slog.Any("error", gerr))
			}
		} else if merr := s.q.MessageMarkFailed(rctx, s.pool, store.MessageMarkFailedParams{ID: row.MessageID, Now: now}); merr != nil {
			s.log.ErrorContext(ctx, "mark send failed", slog.Any("error", merr))
		}
		return nil, s.upstreamError(rctx, op, err, target{lineID: row.LineID, userID: row.UserID, newChat: newChat, key: key})
	}
	if newChat {
		s.okCreate.Inc()
	} else {
		s.okSend.Inc()
	}
	s.metrics.SendsAccepted.Inc()
	err = s.markSent(rctx, store.MessageMarkSentParams{
		ID: row.MessageID, LinqChatID: chatID, LinqMessageID: msgID, TraceID: nonEmpty(trace),
		DeliveryStatus: status, Now: now,
	}, newChat)
	if err != nil {
		// Linq sent it; a retry with the key finds the message pending until
		// the lease ends, then sends again under the same Linq key, which
		// Linq answers with this message. Nothing is sent twice.
		s.log.ErrorContext(ctx, "record sent message", slog.Any("error", err))
	}
	return &Sent{
		ID: uuidString(row.MessageID), UserRef: row.UserRef, Line: LineRef{ID: row.LineID, Number: row.LineNumber},
		ChatID: chatID, LinqMessageID: msgID, TraceID: trace, IdempotencyKey: key, Status: status,
	}, nil
}

// markSent records Linq's answer; the first send on a line also records
// the new chat.
func (s *Service) markSent(ctx context.Context, p store.MessageMarkSentParams, newChat bool) error {
	if newChat {
		return s.q.MessageMarkSentNewChat(ctx, s.pool, store.MessageMarkSentNewChatParams{
			ID: p.ID, LinqChatID: p.LinqChatID, LinqMessageID: p.LinqMessageID, TraceID: p.TraceID,
			DeliveryStatus: p.DeliveryStatus, Now: p.Now,
		})
	}
	return s.q.MessageMarkSent(ctx, s.pool, p)
}

// giveBack undoes an admission Linq refused without sending.
func (s *Service) giveBack(ctx context.Context, id pgtype.UUID, lineID int64, handle string, at time.Time) error {
	if err := s.lim.GiveBack(ctx, lineID, []string{handle}, at); err != nil {
		return err
	}
	if id.Valid {
		if err := s.q.MessageDelete(ctx, s.pool, id); err != nil {
			return fmt.Errorf("free idempotency key: %w", err)
		}
	}
	return nil
}

// CleanupIdempotency forgets idempotency keys older than IdempotencyKeepFor
// (the messages stay) and returns how many; the lead schedules it.
func (s *Service) CleanupIdempotency(ctx context.Context) (int64, error) {
	const batch = 5000
	var total int64
	for {
		n, err := s.q.MessageExpireKeys(ctx, s.pool, store.MessageExpireKeysParams{Now: s.cfg.Now(), Batch: batch})
		total += n
		if err != nil {
			return total, fmt.Errorf("expire idempotency keys: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
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

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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

func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

func uuidString(id pgtype.UUID) string {
	if !id.Valid {
		return ""
	}
	return uuid.UUID(id.Bytes).String()
}

var errNotUUID = errors.New("not a uuid")

func parseID(s string) (pgtype.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return pgtype.UUID{}, errNotUUID
	}
	return pgUUID(id), nil
}
