package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/retention"
	"github.com/linegate/linegate/internal/testkit"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// River's job cleaner, started the way the gateway starts River, deletes each
// finished state after its own period from the config: the periods differ,
// so a job kept or deleted by the wrong one shows.
func TestApplyRiverCleansFinishedJobsAfterTheirPeriods(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	cfg := retention.DefaultConfig()
	cfg.CompletedJobs, cfg.CancelledJobs, cfg.DiscardedJobs = time.Hour, 2*time.Hour, 3*time.Hour

	// Each state has a job just past its period (gone) and one just inside
	// it (kept), finished 90, 150 or 200 minutes ago.
	_, err := pool.Exec(ctx, `
		INSERT INTO river_job (kind, args, max_attempts, state, finalized_at, tags) VALUES
		('noop', '{"n":"completed-gone"}', 1, 'completed', now() - interval '90 minutes', '{gone}'),
		('noop', '{"n":"cancelled-kept"}', 1, 'cancelled', now() - interval '90 minutes', '{kept}'),
		('noop', '{"n":"cancelled-gone"}', 1, 'cancelled', now() - interval '150 minutes', '{gone}'),
		('noop', '{"n":"discarded-kept"}', 1, 'discarded', now() - interval '150 minutes', '{kept}'),
		('noop', '{"n":"discarded-gone"}', 1, 'discarded', now() - interval '200 minutes', '{gone}'),
		('noop', '{"n":"completed-kept"}', 1, 'completed', now() - interval '30 minutes', '{kept}')`)
	require.NoError(t, err)

	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})
	rc := &river.Config{
		Logger:  testkit.Logger(t),
		Workers: workers,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
	}
	cfg.ApplyRiver(rc)
	client, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), rc)
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	})

	left := func(tag string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE $1 = ANY (tags)`, tag).Scan(&n))
		return n
	}
	// The leader cleans once on taking the lead, then every 30 s.
	require.Eventually(t, func() bool { return left("gone") == 0 }, 60*time.Second, 50*time.Millisecond,
		"jobs past their state's period are deleted")
	require.Equal(t, 3, left("kept"), "jobs inside their state's period stay")
}
