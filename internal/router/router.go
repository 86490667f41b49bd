package router

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Config tunes assignment. Every field is used as given: 0 means 0 (the
// defaults live in internal/config); DefaultConfig holds them for tests.
type Config struct {
	BackupCount   int           // backups per user; 0 gives users none
	SignupLinkTTL time.Duration // life of a public signup link
	DefaultRegion string        // for handles without a country code
	// MaxBatch bounds how many concurrent signups share one transaction;
	// below 1 it is 1 (a batch holds at least its leader's signup).
	MaxBatch int
	// BatchTimeout bounds one batch transaction, whatever the callers'
	// contexts say (their requests may give up; the batch still finishes).
	BatchTimeout time.Duration
	// AnalyzeEvery is how many signups a replica writes between its
	// ANALYZEs of the signup buckets (store.LineSignupsAnalyze); 0 leaves
	// them to autovacuum.
	AnalyzeEvery int
	Now          func() time.Time
}

// Service assigns and moves users.
type Service struct {
	pool    *pgxpool.Pool
	lines   *lines.Service
	logger  *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	q       *store.Queries
	batch   *batcher
	// batchConn is the connection signup batches run on while they follow
	// one another (see batchConnection); only the running batch touches it.
	batchConn *pgxpool.Conn
	// sinceAnalyze counts the signups written since the last ANALYZE of
	// the signup buckets; only the running batch touches it.
	sinceAnalyze int
	// publish tells product services of the users a permanent move put on
	// another line (PublishMovesWith).
	publish MovesPublisher
	// events tells product services of other changes (a user deleted),
	// in their transaction (PublishEventsWith).
	events EventsPublisher
}

// EventsPublisher publishes events to product services inside tx.
type EventsPublisher func(ctx context.Context, tx pgx.Tx, evs ...events.Event) error

// PublishEventsWith makes a user's delete publish user.deleted through p;
// the gateway wires it. Call it before serving.
func (s *Service) PublishEventsWith(p EventsPublisher) { s.events = p }

// MovesPublisher publishes the users a move put on another line, inside
// the move's transaction, with the move's ledger reason.
type MovesPublisher func(ctx context.Context, tx pgx.Tx, moves []Move, reason string) error

// PublishMovesWith makes the permanent moves (retire, ops moves, reassign)
// publish through p; line health wires it. Call it before serving.
func (s *Service) PublishMovesWith(p MovesPublisher) { s.publish = p }

// published hands moves to the publisher, when one is wired.
func (s *Service) published(ctx context.Context, tx pgx.Tx, moves []Move, reason string) error {
	if s.publish == nil || len(moves) == 0 {
		return nil
	}
	return s.publish(ctx, tx, moves, reason)
}

// DefaultConfig is the configuration's defaults and the batch limits the
// gateway runs with.
func DefaultConfig() Config {
	return Config{BackupCount: 2, SignupLinkTTL: 720 * time.Hour, DefaultRegion: "US",
		MaxBatch: 256, BatchTimeout: 15 * time.Second, AnalyzeEvery: 1000, Now: time.Now}
}

// New builds a Service. It starts no goroutine of its own.
func New(pool *pgxpool.Pool, ls *lines.Service, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	cfg.MaxBatch = max(cfg.MaxBatch, 1)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.New()
	}
	s := &Service{pool: pool, lines: ls, logger: logger, metrics: m, cfg: cfg, q: store.New()}
	s.batch = &batcher{max: cfg.MaxBatch, run: s.runBatch, idle: s.releaseBatchConn, timeout: cfg.BatchTimeout}
	return s
}

// LineRef names a line in answers.
type LineRef struct {
	ID     int64  `json:"id"`
	Number string `json:"number"`
}

func ref(l *lines.Line) LineRef { return LineRef{ID: l.ID, Number: l.Number} }
