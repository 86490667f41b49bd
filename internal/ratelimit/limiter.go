package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Outcomes of an admission, as rl_admit returns them.
const (
	OutcomeOK              = "ok"
	OutcomePairLimit       = "pair_limit"
	OutcomePairQuarantined = "pair_quarantined"
	OutcomeLineBudget      = "line_budget"
	OutcomeLineUnavailable = "line_unavailable"
)

// Defaults for Config (Linq's documented limits and Linegate's settings).
const (
	DefaultPairLimit     = 30
	DefaultPairWindow    = 60 * time.Second
	DefaultHitLimit      = 3
	DefaultHitWindow     = 10 * time.Minute
	DefaultQuarantineFor = time.Hour
	DefaultDailyBudget   = 7000
	DefaultReplyReserve  = 0.10
	DefaultReplyWindow   = 30 * time.Minute
)

// Config tunes the limiter; zero values take the defaults.
type Config struct {
	PairLimit  int
	PairWindow time.Duration
	// HitLimit limit hits within HitWindow quarantine a pair for
	// QuarantineFor. A negative HitLimit turns the loop guard off.
	HitLimit      int
	HitWindow     time.Duration
	QuarantineFor time.Duration
	// DailyBudget is a line's rolling-24h budget unless the line overrides
	// it; a line in warm-up gets 20 % of it rising linearly to 100 % over
	// Warmup (0: no warm-up).
	DailyBudget int
	Warmup      time.Duration
	// ReplyReserve is the share of the budget only replies may use: sends
	// with intent reply to a user whose last inbound message is at most
	// ReplyWindow old.
	ReplyReserve float64
	ReplyWindow  time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Limits are the effective settings, for callers that run the admission
// inside their own statement (package messaging).
type Limits struct {
	PairLimit     int
	PairWindow    time.Duration
	HitLimit      int
	HitWindow     time.Duration
	QuarantineFor time.Duration
	DailyBudget   int
	Warmup        time.Duration
	ReplyReserve  float64
	ReplyWindow   time.Duration
}

// Limiter makes admission decisions in Postgres.
type Limiter struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	log     *slog.Logger
	metrics *metrics.Metrics
	limits  Limits
	now     func() time.Time
}

// New returns a Limiter on pool.
func New(pool *pgxpool.Pool, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Limiter {
	hits := cmp.Or(cfg.HitLimit, DefaultHitLimit)
	if hits < 0 {
		hits = 0
	}
	if m == nil {
		m = metrics.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	reserve := max(cmp.Or(cfg.ReplyReserve, DefaultReplyReserve), 0)
	return &Limiter{
		pool:    pool,
		q:       store.New(),
		log:     cmp.Or(logger, slog.Default()),
		metrics: m,
		now:     cfg.Now,
		limits: Limits{
			PairLimit:     cmp.Or(cfg.PairLimit, DefaultPairLimit),
			PairWindow:    cmp.Or(cfg.PairWindow, DefaultPairWindow),
			HitLimit:      hits,
			HitWindow:     cmp.Or(cfg.HitWindow, DefaultHitWindow),
			QuarantineFor: cmp.Or(cfg.QuarantineFor, DefaultQuarantineFor),
			DailyBudget:   cmp.Or(cfg.DailyBudget, DefaultDailyBudget),
			Warmup:        cfg.Warmup,
			ReplyReserve:  reserve,
			ReplyWindow:   cmp.Or(cfg.ReplyWindow, DefaultReplyWindow),
		},
	}
}

// Limits returns the effective settings.
func (l *Limiter) Limits() Limits { return l.limits }

// Now returns the limiter's clock reading at Postgres precision.
func (l *Limiter) Now() time.Time { return Micro(l.now()) }

// Micro truncates t to Postgres' microsecond precision, so that a time sent
// to the database compares equal to the one read back.
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Send intents: only replies may use the reply reserve.
const (
	IntentProactive = "proactive"
	IntentReply     = "reply"
)

// IsReply reports whether a send may use the reply reserve: its intent is
// reply and the user's last inbound message is at most ReplyWindow old.
func (l *Limiter) IsReply(intent string, lastInbound *time.Time, now time.Time) bool {
	return intent == IntentReply && lastInbound != nil && !lastInbound.Before(now.Add(-l.limits.ReplyWindow))
}

// Request is one send to admit.
type Request struct {
	LineID int64
	// Handles are the recipients; a group send takes a slot per recipient.
	Handles []string
	// Reply marks a send that may use the reply reserve (see IsReply).
	Reply bool
	// LineDown marks a line that cannot send now; it is checked after the
	// pair window and the budget, so those refusals take precedence.
	LineDown bool
	// At is the admission time; zero means now.
	At time.Time
}

// Decision is the outcome of an admission.
type Decision struct {
	Outcome    string
	RetryAfter time.Duration
	// Quarantined is set when this admission started a quarantine.
	Quarantined bool
	// BudgetUsed and BudgetLimit are the line's rolling-24h count (after
	// this send when admitted) and the limit that applied to it; zero when
	// the pair window refused first.
	BudgetUsed  int
	BudgetLimit int
	// At is the admission time, which GiveBack needs.
	At time.Time
}

// Admitted reports whether the send may go to Linq.
func (d Decision) Admitted() bool { return d.Outcome == OutcomeOK }

// Admit decides one send and records it when admitted.
func (l *Limiter) Admit(ctx context.Context, req Request) (Decision, error) {
	at := req.At
	if at.IsZero() {
		at = l.now()
	}
	at = Micro(at)
	handles := slices.Clone(req.Handles)
	slices.Sort(handles) // lock order
	handles = slices.Compact(handles)
	if len(handles) == 0 {
		return Decision{}, fmt.Errorf("admit: no recipient")
	}
	lim := l.limits
	row, err := l.q.PairStateAdmit(ctx, l.pool, store.PairStateAdmitParams{
		LineID:     req.LineID,
		Handles:    handles,
		Now:        at,
		PairLimit:  int32(lim.PairLimit),
		PairWindow: Interval(lim.PairWindow),
		HitLimit:   int32(lim.HitLimit),
		HitWindow:  Interval(lim.HitWindow),
		Quarantine: Interval(lim.QuarantineFor),
		Budget:     int32(lim.DailyBudget),
		Warmup:     Interval(lim.Warmup),
		Reserve:    lim.ReplyReserve,
		Reply:      req.Reply,
		LineOk:     !req.LineDown,
		Units:      1,
	})
	if err != nil {
		return Decision{}, fmt.Errorf("admit send on line %d: %w", req.LineID, err)
	}
	return Decision{
		Outcome:     row.Outcome,
		RetryAfter:  time.Duration(row.RetryAfterMs) * time.Millisecond,
		Quarantined: row.Quarantined,
		BudgetUsed:  int(row.BudgetUsed),
		BudgetLimit: int(row.BudgetLimit),
		At:          at,
	}, nil
}

// Check turns a decision into nil (admitted) or the error the caller
// answers with, and counts and logs refusals and new quarantines.
func (l *Limiter) Check(ctx context.Context, lineID int64, handle string, d Decision) error {
	if d.Admitted() {
		return nil
	}
	l.metrics.SendsRefused.WithLabelValues(d.Outcome).Inc()
	if d.Quarantined {
		l.metrics.PairQuarantines.Inc()
		l.log.WarnContext(ctx, "pair quarantined by the loop guard",
			slog.Int64("line_id", lineID), slog.String("handle", MaskHandle(handle)),
			slog.Duration("for", l.limits.QuarantineFor))
	}
	return RefusalError(d.Outcome, d.RetryAfter)
}

// RefusalError is the error for a refused admission outcome.
func RefusalError(outcome string, retryAfter time.Duration) error {
	switch outcome {
	case OutcomeOK:
		return nil
	case OutcomePairLimit:
		return apperr.Limited(outcome, "this line sent the most messages allowed to this recipient in the last 60 s", retryAfter)
	case OutcomePairQuarantined:
		return apperr.Limited(outcome, "this line and recipient keep hitting the pair limit (a loop?); sends are paused until the quarantine ends or ops release it", retryAfter)
	case OutcomeLineBudget:
		return apperr.Limited(outcome, "the user's line has used its rolling 24 h message budget", retryAfter)
	case OutcomeLineUnavailable:
		return apperr.New(apperr.Unavailable, outcome, "the user's line cannot send right now")
	default:
		return fmt.Errorf("unknown admission outcome %q", outcome)
	}
}

// GiveBack returns an admitted send's slots when Linq refused it without
// sending (linq.NotSent): its timestamp leaves each pair window and its unit
// leaves the line's volume.
func (l *Limiter) GiveBack(ctx context.Context, lineID int64, handles []string, at time.Time) error {
	err := l.q.PairStateGiveBack(ctx, l.pool, store.PairStateGiveBackParams{
		LineID: lineID, Handles: handles, At: Micro(at), Units: 1,
	})
	if err != nil {
		return fmt.Errorf("give back send on line %d: %w", lineID, err)
	}
	return nil
}

// Interval converts d to a Postgres interval.
func Interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

// MaskHandle keeps the last four characters of a handle for logs.
func MaskHandle(h string) string {
	if len(h) <= 4 {
		return "****"
	}
	return "…" + h[len(h)-4:]
}
