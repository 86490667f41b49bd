package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Outcomes of an admission, as limits_admit returns them.
const (
	OutcomeOK              = "ok"
	OutcomePairLimit       = "pair_limit"
	OutcomePairQuarantined = "pair_quarantined"
	OutcomeLineBudget      = "line_budget"
	OutcomeLineUnavailable = "line_unavailable"
)

// LineRetryAfter is the hint of a 503 line_unavailable: how soon a line
// that cannot send is worth asking again (the health job and the line sync
// run on this order of time).
const LineRetryAfter = time.Minute

// Config tunes the limiter. Every field is used as given: 0 means 0 (the
// defaults live in internal/config); DefaultConfig is Linq's documented
// limits and Linegate's default settings.
type Config struct {
	// PairLimit sends per line and recipient in any PairWindow.
	PairLimit  int
	PairWindow time.Duration
	// HitLimit limit hits within HitWindow quarantine a pair for
	// QuarantineFor; 0 turns the loop guard off.
	HitLimit      int
	HitWindow     time.Duration
	QuarantineFor time.Duration
	// Policy is the line policy (budget, warm-up, reply reserve, pacing).
	Policy lines.Policy
	// ReplyWindow is how recent a user's last inbound message must be for
	// a send with intent reply to use the reply reserve.
	ReplyWindow time.Duration
}

// DefaultConfig is Linq's documented limits and the default settings.
func DefaultConfig() Config {
	return Config{
		PairLimit: 30, PairWindow: 60 * time.Second, HitLimit: 3, HitWindow: 10 * time.Minute,
		QuarantineFor: time.Hour, Policy: lines.DefaultPolicy(), ReplyWindow: 30 * time.Minute,
	}
}

// Limiter makes admission decisions in Postgres, on the database's clock.
type Limiter struct {
	pool     *pgxpool.Pool
	q        *store.Queries
	log      *slog.Logger
	metrics  *metrics.Metrics
	cfg      Config
	settings map[string]any
	admit    []byte
	// now stamps inbound messages that come without a time of their own.
	now func() time.Time
}

// New returns a Limiter on pool.
func New(pool *pgxpool.Pool, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Limiter {
	if m == nil {
		m = metrics.New()
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := cfg.Policy.Settings()
	maps.Copy(s, map[string]any{
		"pair_limit":      cfg.PairLimit,
		"pair_window_ms":  cfg.PairWindow.Milliseconds(),
		"hit_limit":       cfg.HitLimit,
		"hit_window_ms":   cfg.HitWindow.Milliseconds(),
		"quarantine_ms":   cfg.QuarantineFor.Milliseconds(),
		"reply_window_ms": cfg.ReplyWindow.Milliseconds(),
	})
	l := &Limiter{pool: pool, q: store.New(), log: logger, metrics: m, cfg: cfg, settings: s, now: time.Now}
	l.admit = l.Settings(nil)
	return l
}

// Config returns the limiter's settings.
func (l *Limiter) Config() Config { return l.cfg }

// Settings are the settings limits_admit reads, as JSON, with extra keys
// for a caller that runs the admission inside its own function
// (send_admit).
func (l *Limiter) Settings(extra map[string]any) []byte {
	s := maps.Clone(l.settings)
	maps.Copy(s, extra)
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("ratelimit: settings do not marshal: %v", err)) // numbers only
	}
	return b
}

// Micro truncates t to Postgres' microsecond precision, so that a time sent
// to the database compares equal to the one read back.
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Send intents: only replies may use the reply reserve.
const (
	IntentProactive = "proactive"
	IntentReply     = "reply"
)

// Request is one send to admit.
type Request struct {
	LineID int64
	// Handles are the recipients; a group send takes a slot per recipient.
	Handles []string
	// Reply marks a send that may use the reply reserve: intent reply to a
	// user whose last inbound message is at most ReplyWindow old (the
	// caller knows; see messaging).
	Reply bool
}

// Decision is the outcome of an admission.
type Decision struct {
	Outcome    string
	RetryAfter time.Duration
	// Quarantined is set when this admission started a quarantine.
	Quarantined bool
	// BudgetUsed and BudgetLimit are the line's rolling-24h count (after
	// this send when admitted) and the limit that applied to it; zero when
	// the pair window or the line's state refused first.
	BudgetUsed  int
	BudgetLimit int
	// Why is the line policy's reason when the line refused or paced the
	// send (line_down, line_paused, line_paced, retired, ...).
	Why string
	// At is the admission time on the database's clock, which GiveBack
	// needs.
	At time.Time
}

// Admitted reports whether the send may go to Linq.
func (d Decision) Admitted() bool { return d.Outcome == OutcomeOK }

// Admit decides one send and records it when admitted.
func (l *Limiter) Admit(ctx context.Context, req Request) (Decision, error) {
	handles := slices.Clone(req.Handles)
	slices.Sort(handles) // lock order
	handles = slices.Compact(handles)
	if len(handles) == 0 {
		return Decision{}, fmt.Errorf("admit: no recipient")
	}
	// One statement, its own transaction: a deadlock's victim committed
	// nothing and runs again (a webhook batch or a move can form a cycle
	// with it).
	row, err := store.RetryDeadlocked(ctx, func() (store.PairStateAdmitRow, error) {
		return l.q.PairStateAdmit(ctx, l.pool, store.PairStateAdmitParams{
			LineID: req.LineID, Handles: handles, Settings: l.admit, Reply: req.Reply, Units: 1,
		})
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
		Why:         row.Why,
		At:          row.AdmittedAt,
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
			slog.Duration("for", l.cfg.QuarantineFor))
	}
	return Refusal(d.Outcome, d.Why, d.RetryAfter)
}

// Refusal is the error for a refused admission outcome; why is the line
// policy's reason, given to the caller as details.why.
func Refusal(outcome, why string, retryAfter time.Duration) error {
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
		e := apperr.New(apperr.Unavailable, outcome, "the user's line cannot send right now")
		e.RetryAfter = max(retryAfter, LineRetryAfter)
		if why != "" {
			e.Details = map[string]any{"why": why}
		}
		return e
	default:
		return fmt.Errorf("unknown admission outcome %q", outcome)
	}
}

// GiveBack returns an admitted send's slots when Linq refused it without
// sending (linq.NotSent): its timestamp leaves each pair window and its unit
// leaves the line's volume. at is the Decision's At; more are the stamps of
// further units admitted with it (limits_admit's p_units), each a unit.
func (l *Limiter) GiveBack(ctx context.Context, lineID int64, handles []string, at time.Time, more ...time.Time) error {
	ats := []time.Time{Micro(at)}
	for _, t := range more {
		ats = append(ats, Micro(t))
	}
	err := l.q.PairStateGiveBack(ctx, l.pool, store.PairStateGiveBackParams{
		LineID: lineID, Handles: handles, Ats: ats,
	})
	if err != nil {
		return fmt.Errorf("give back send on line %d: %w", lineID, err)
	}
	return nil
}

// MaskHandle keeps the last four characters of a handle for logs.
func MaskHandle(h string) string {
	if len(h) <= 4 {
		return "****"
	}
	return "…" + h[len(h)-4:]
}
