package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// Failover phase sizing: failoverUsers on one line, whose first backups are
// spread over five lines that take only part of them, so that the second
// round (second backups, five other lines) places the rest.
const (
	failoverUsers   = 10_000
	failoverBackups = 10
	backupCap       = 1_100
	failoverTarget  = 5 * time.Second
)

// failoverPhase is (g): a line carrying failoverUsers users is flagged and
// every user moves, in the transaction that applies the flag, through the
// production services (health → router), events published (to no
// subscription: delivery rows are not part of the timing).
func failoverPhase(ctx context.Context, cfg Config, out io.Writer) error {
	quiet := slog.New(slog.DiscardHandler)
	db, err := newDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer func() { _ = db.drop(context.WithoutCancel(ctx)) }()
	pool, err := store.Open(ctx, store.PoolConfig{URL: db.url, MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	mg, err := store.NewMigrator(pool)
	if err != nil {
		return err
	}
	err = mg.Up(ctx)
	mg.Close()
	if err != nil {
		return fmt.Errorf("failover bench: migrate: %w", err)
	}

	// Caps: budget × (1 − 0.15) ÷ 20 messages per user per day.
	budget := backupCap * 20 * 100 / 85
	if _, err := pool.Exec(ctx, `INSERT INTO lines (number, budget_override, warmup_started_at)
		SELECT '+1555' || lpad(g::text, 7, '0'), $1::int, now() - interval '365 days' FROM generate_series(0, $2::int) g`,
		budget, failoverBackups); err != nil {
		return fmt.Errorf("failover bench: seed lines: %w", err)
	}
	var down int64
	if err := pool.QueryRow(ctx, `SELECT min(id) FROM lines`).Scan(&down); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO users (user_ref, code, home_line_id, current_line_id)
		SELECT 'fo-' || g, 'FO' || g, $1::bigint, $1::bigint FROM generate_series(1, $2::int) g`, down, failoverUsers); err != nil {
		return fmt.Errorf("failover bench: seed users: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO user_lines (user_id, position, line_id)
		SELECT u.id, 0, $1::bigint FROM users u
		UNION ALL SELECT u.id, 1, $1::bigint + 1 + u.id % 5 FROM users u
		UNION ALL SELECT u.id, 2, $1::bigint + 6 + u.id % 5 FROM users u`, down); err != nil {
		return fmt.Errorf("failover bench: seed line sets: %w", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE lines SET user_count = (SELECT count(*) FROM users u WHERE u.current_line_id = lines.id)`); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}

	m := metrics.New()
	lcfg := lines.DefaultConfig()
	ls := lines.New(pool, nil, quiet, lcfg)
	r := router.New(pool, ls, quiet, m, router.DefaultConfig())
	ev := events.New(pool, nil, quiet, m, events.Config{})
	hs := health.New(pool, ls, r, nil, ev, quiet, m, health.Config{})

	start := time.Now()
	res, err := store.WithTxV(ctx, pool, func(ctx context.Context, tx pgx.Tx) (health.Outcome, error) {
		return hs.ApplyOutcome(ctx, tx, health.Input{LineID: down, Source: health.SourceWebhook, ServiceStatus: lines.StatusFlagged})
	})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("failover bench: %w", err)
	}
	if res.Failover == nil {
		return fmt.Errorf("failover bench: the flag moved nobody")
	}
	met := "met"
	if elapsed > failoverTarget {
		met = "NOT met"
	}
	fmt.Fprintf(out, "(g) failover of %d users: %.2f s (moved %d, stranded %d; target ≤ %.0f s: %s)\n",
		failoverUsers, elapsed.Seconds(), res.Failover.Moved, res.Failover.Stranded, failoverTarget.Seconds(), met)
	return nil
}
