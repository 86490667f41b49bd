package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Config is how long each table keeps its rows, past the time named for it.
type Config struct {
	// Batch is the most rows one DELETE removes; the service loops until a
	// batch comes back short.
	Batch int

	WebhookEvents       time.Duration // processed Linq webhooks, by receipt
	EventDeliveries     time.Duration // delivered events, by delivery
	DeadEventDeliveries time.Duration // dead events, by last attempt
	LinqMessages        time.Duration // Linq message links, by creation
	SignupLinks         time.Duration // signup links, after expiry
	OpsSessions         time.Duration // ops sessions, after expiry
	PairQuarantines     time.Duration // loop-guard quarantines, after their end
	LineHealthHistory   time.Duration // health transitions, by record
	Failovers           time.Duration // failovers and their moves, by start
	LineLedger          time.Duration // superseded ledger rows, by creation
	// UserVolume is how long users' daily counts are kept after their day
	// ends: the week the user lookup shows (router.VolumeDays); not a
	// setting.
	UserVolume time.Duration

	// River's job cleaner (run by River's leader every 30 s).
	CompletedJobs time.Duration
	CancelledJobs time.Duration
	DiscardedJobs time.Duration
}

// DefaultConfig is the config's defaults, for tests and tools.
func DefaultConfig() Config {
	const day = 24 * time.Hour
	return Config{
		Batch: 5000, WebhookEvents: 7 * day, EventDeliveries: 7 * day, DeadEventDeliveries: 30 * day,
		LinqMessages: 30 * day, SignupLinks: 7 * day, OpsSessions: day, PairQuarantines: 30 * day,
		LineHealthHistory: 90 * day, Failovers: 90 * day, LineLedger: 90 * day, UserVolume: 7 * day,
		CompletedJobs: day, CancelledJobs: day, DiscardedJobs: 7 * day,
	}
}

// ApplyRiver sets River's job cleaner periods; River's defaults are close,
// but every retention is a setting.
func (c Config) ApplyRiver(rc *river.Config) {
	rc.CompletedJobRetentionPeriod = c.CompletedJobs
	rc.CancelledJobRetentionPeriod = c.CancelledJobs
	rc.DiscardedJobRetentionPeriod = c.DiscardedJobs
}

// failoverBatchDivisor shrinks the failover batch: each failover cascades to
// one row per user it moved (up to a line's users).
const failoverBatchDivisor = 500

// Service prunes the tables. Times are the database clock's (lg_now), as
// for every cross-replica decision, so it takes no clock of its own.
type Service struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	q       *store.Queries
}

// New builds a Service; zero fields of cfg take DefaultConfig's values.
func New(pool *pgxpool.Pool, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.New()
	}
	return &Service{pool: pool, logger: logger, metrics: m, cfg: withDefaults(cfg), q: store.New()}
}

func withDefaults(c Config) Config {
	d := DefaultConfig()
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{
		{&c.WebhookEvents, d.WebhookEvents}, {&c.EventDeliveries, d.EventDeliveries},
		{&c.DeadEventDeliveries, d.DeadEventDeliveries}, {&c.LinqMessages, d.LinqMessages},
		{&c.SignupLinks, d.SignupLinks}, {&c.OpsSessions, d.OpsSessions}, {&c.PairQuarantines, d.PairQuarantines},
		{&c.LineHealthHistory, d.LineHealthHistory}, {&c.Failovers, d.Failovers}, {&c.LineLedger, d.LineLedger}, {&c.UserVolume, d.UserVolume},
		{&c.CompletedJobs, d.CompletedJobs}, {&c.CancelledJobs, d.CancelledJobs}, {&c.DiscardedJobs, d.DiscardedJobs},
	} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	if c.Batch <= 0 {
		c.Batch = d.Batch
	}
	return c
}

// pruneFunc deletes one batch of at most batch rows older than keep.
type pruneFunc func(ctx context.Context, db store.DBTX, keep pgtype.Interval, batch int32) (int64, error)

type table struct {
	name  string
	keep  time.Duration
	batch int
	prune pruneFunc
}

func (s *Service) tables() []table {
	q, c := s.q, s.cfg
	return []table{
		{"webhook_events", c.WebhookEvents, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.WebhookEventPrune(ctx, db, store.WebhookEventPruneParams{Keep: k, Batch: b})
		}},
		{"event_deliveries", c.EventDeliveries, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.EventDeliveryPruneDelivered(ctx, db, store.EventDeliveryPruneDeliveredParams{Keep: k, Batch: b})
		}},
		{"event_deliveries_dead", c.DeadEventDeliveries, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.EventDeliveryPruneDead(ctx, db, store.EventDeliveryPruneDeadParams{Keep: k, Batch: b})
		}},
		{"linq_messages", c.LinqMessages, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.LinqMessagePrune(ctx, db, store.LinqMessagePruneParams{Keep: k, Batch: b})
		}},
		{"signup_links", c.SignupLinks, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.SignupLinkPrune(ctx, db, store.SignupLinkPruneParams{Keep: k, Batch: b})
		}},
		{"ops_sessions", c.OpsSessions, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.OpsSessionPruneExpired(ctx, db, store.OpsSessionPruneExpiredParams{Keep: k, Batch: b})
		}},
		{"pair_quarantines", c.PairQuarantines, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.PairQuarantinePrune(ctx, db, store.PairQuarantinePruneParams{Keep: k, Batch: b})
		}},
		{"line_health_history", c.LineHealthHistory, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.LineHealthHistoryPrune(ctx, db, store.LineHealthHistoryPruneParams{Keep: k, Batch: b})
		}},
		{"user_volume", c.UserVolume, c.Batch, func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.UserVolumePrune(ctx, db, store.UserVolumePruneParams{Keep: k, Batch: b})
		}},
		{"failovers", c.Failovers, max(c.Batch/failoverBatchDivisor, 1), func(ctx context.Context, db store.DBTX, k pgtype.Interval, b int32) (int64, error) {
			return q.FailoverPrune(ctx, db, store.FailoverPruneParams{Keep: k, Batch: b})
		}},
	}
}

// Run prunes every table once, batch after batch until each is done, and
// returns the rows deleted per table. A table that fails does not stop the
// others; the errors are joined.
func (s *Service) Run(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	var errs []error
	for _, t := range s.tables() {
		n, err := s.drain(ctx, t)
		s.count(ctx, out, t.name, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("prune %s: %w", t.name, err))
		}
	}
	n, err := s.pruneLedger(ctx)
	s.count(ctx, out, "line_ledger", n)
	if err != nil {
		errs = append(errs, fmt.Errorf("prune line_ledger: %w", err))
	}
	return out, errors.Join(errs...)
}

func (s *Service) count(ctx context.Context, out map[string]int64, name string, n int64) {
	out[name] = n
	if n > 0 {
		s.metrics.RetentionPruned.WithLabelValues(name).Add(float64(n))
		s.logger.InfoContext(ctx, "pruned", slog.String("table", name), slog.Int64("rows", n))
	}
}

// drain deletes batches until one comes back short. Each batch is its own
// statement (and transaction), so locks and WAL stay small.
func (s *Service) drain(ctx context.Context, t table) (int64, error) {
	var total int64
	keep, batch := store.Interval(t.keep), int32(t.batch)
	for {
		n, err := t.prune(ctx, s.pool, keep, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// pruneLedger walks the ledger's old rows once per run with a cursor: the
// rows it keeps (each user's newest) are not read again in this run.
func (s *Service) pruneLedger(ctx context.Context) (int64, error) {
	var total int64
	p := store.LineLedgerPruneParams{
		AfterAt: time.Time{}, AfterID: 0, Keep: store.Interval(s.cfg.LineLedger), Batch: int32(s.cfg.Batch),
	}
	for {
		r, err := s.q.LineLedgerPrune(ctx, s.pool, p)
		if err != nil {
			return total, err
		}
		total += r.Deleted
		if r.Scanned < int64(p.Batch) {
			return total, nil
		}
		p.AfterAt, p.AfterID = r.LastAt, r.LastID
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
