package router

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Config tunes assignment; zero values take the defaults.
type Config struct {
	BackupCount   int           // backups per user (2); negative means none
	SignupLinkTTL time.Duration // life of a public signup link (720h)
	DefaultRegion string        // for handles without a country code ("US")
	// MaxBatch bounds how many concurrent signups share one transaction.
	MaxBatch int
	// BatchTimeout bounds one batch transaction, whatever the callers'
	// contexts say (their requests may give up; the batch still finishes).
	BatchTimeout time.Duration
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
}

// New builds a Service. It starts no goroutine of its own.
func New(pool *pgxpool.Pool, ls *lines.Service, logger *slog.Logger, m *metrics.Metrics, cfg Config) *Service {
	switch {
	case cfg.BackupCount == 0:
		cfg.BackupCount = 2
	case cfg.BackupCount < 0:
		cfg.BackupCount = 0
	}
	cfg.SignupLinkTTL = cmp.Or(cfg.SignupLinkTTL, 720*time.Hour)
	cfg.DefaultRegion = cmp.Or(cfg.DefaultRegion, "US")
	cfg.MaxBatch = cmp.Or(cfg.MaxBatch, 256)
	cfg.BatchTimeout = cmp.Or(cfg.BatchTimeout, 15*time.Second)
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
	s.batch = &batcher{max: cfg.MaxBatch, run: s.runBatch, timeout: cfg.BatchTimeout}
	return s
}

// LineRef names a line in answers.
type LineRef struct {
	ID     int64  `json:"id"`
	Number string `json:"number"`
}

func ref(l *lines.Line) LineRef { return LineRef{ID: l.ID, Number: l.Number} }
