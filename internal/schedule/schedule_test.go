package schedule_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/schedule"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

func TestRunner(t *testing.T) {
	t.Parallel()

	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	type testBundle struct {
		url  string
		pool *pgxpool.Pool
		// db is the database clock, the one the claims read; clock is the
		// replicas' own clock, in step with it unless a test skews it.
		db    *pgtest.Clock
		clock *testkit.Clock
	}
	open := func(t *testing.T, url string) *pgxpool.Pool {
		t.Helper()
		pool, err := store.Open(context.Background(), store.PoolConfig{URL: url, MaxConns: 4})
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		url := pgtest.NewURL(t)
		pool := open(t, url)
		return &testBundle{url: url, pool: pool, db: pgtest.NewClock(t, pool, start), clock: testkit.NewClock(start)}
	}
	// advance moves the database clock and the replicas' clock together.
	advance := func(b *testBundle, d time.Duration) {
		b.db.Advance(d)
		b.clock.Advance(d)
	}
	// replicaAt builds a runner with its own pool and clock, as another
	// gateway would.
	replicaAt := func(t *testing.T, b *testBundle, now func() time.Time, jobs ...schedule.Job) *schedule.Runner {
		t.Helper()
		r, err := schedule.New(open(t, b.url), slog.New(slog.DiscardHandler), metrics.New(), schedule.Config{Now: now}, jobs...)
		require.NoError(t, err)
		return r
	}
	replica := func(t *testing.T, b *testBundle, jobs ...schedule.Job) *schedule.Runner {
		t.Helper()
		return replicaAt(t, b, b.clock.Now, jobs...)
	}

	t.Run("ExactlyOneReplicaRunsEachTick", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var runs atomic.Int64
		job := schedule.Job{Name: "sync", Spec: "*/5 * * * *", Run: func(context.Context) error { runs.Add(1); return nil }}
		replicas := []*schedule.Runner{replica(t, b, job), replica(t, b, job), replica(t, b, job)}
		tick := func() int {
			t.Helper()
			var wg sync.WaitGroup
			var ran atomic.Int64
			for _, r := range replicas {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := r.RunOnce(context.Background(), "sync")
					if err == nil && ok {
						ran.Add(1)
					}
				}()
			}
			wg.Wait()
			return int(ran.Load())
		}
		require.Equal(t, 1, tick())
		advance(b, time.Minute) // the same tick, seen late by a slow replica
		require.Equal(t, 0, tick())
		advance(b, 4*time.Minute) // the next tick
		require.Equal(t, 1, tick())
		require.Equal(t, int64(2), runs.Load())
	})

	t.Run("SkewedReplicasRunEachTickOnce", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			spec  string
			every time.Duration
			// skews are the replicas' clocks minus the database's.
			skews []time.Duration
		}{
			{name: "ClocksThreeSecondsEitherSide", spec: "@every 5s", every: 5 * time.Second,
				skews: []time.Duration{-3 * time.Second, 3 * time.Second}},
			{name: "ClockAWholeTickAhead", spec: "@every 1m", every: time.Minute,
				skews: []time.Duration{0, time.Minute}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				var runs atomic.Int64
				job := schedule.Job{Name: "sync", Spec: tc.spec, Run: func(context.Context) error { runs.Add(1); return nil }}
				var replicas []*schedule.Runner
				for _, skew := range tc.skews {
					replicas = append(replicas, replicaAt(t, b, func() time.Time { return b.clock.Now().Add(skew) }, job))
				}
				const ticks = 6
				for i := range ticks {
					// Either replica may reach a tick first.
					order := slices.Clone(replicas)
					if i%2 == 1 {
						slices.Reverse(order)
					}
					ran := 0
					for _, r := range order {
						ok, err := r.RunOnce(context.Background(), "sync")
						require.NoError(t, err)
						if ok {
							ran++
						}
					}
					require.Equal(t, 1, ran, "tick %d", i)
					var started time.Time
					require.NoError(t, b.pool.QueryRow(context.Background(),
						`SELECT last_started_at FROM job_runs WHERE name = 'sync'`).Scan(&started))
					require.True(t, b.db.Now().Equal(started), "tick %d started at %v, database clock %v", i, started, b.db.Now())
					advance(b, tc.every)
				}
				require.Equal(t, int64(ticks), runs.Load())
			})
		}
	})

	t.Run("RunningJobIsNotStartedTwice", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		started, release := make(chan struct{}), make(chan struct{})
		job := schedule.Job{Name: "slow", Spec: "@every 1m", Run: func(context.Context) error {
			close(started)
			<-release
			return nil
		}}
		r1, r2 := replica(t, b, job), replica(t, b, job)
		done := make(chan bool)
		go func() {
			ok, _ := r1.RunOnce(context.Background(), "slow")
			done <- ok
		}()
		<-started
		advance(b, 10*time.Minute) // a later tick while the run goes on
		ok, err := r2.RunOnce(context.Background(), "slow")
		require.NoError(t, err)
		require.False(t, ok)
		close(release)
		require.True(t, <-done)
	})

	t.Run("ErrorsAndPanicsAreReturned", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := replica(t, b,
			schedule.Job{Name: "fails", Spec: "@hourly", Run: func(context.Context) error { return errors.New("boom") }},
			schedule.Job{Name: "panics", Spec: "@hourly", Run: func(context.Context) error { panic("oops") }},
		)
		ok, err := r.RunOnce(context.Background(), "fails")
		require.True(t, ok)
		require.ErrorContains(t, err, "boom")
		ok, err = r.RunOnce(context.Background(), "panics")
		require.True(t, ok)
		require.ErrorContains(t, err, "oops")
		_, err = r.RunOnce(context.Background(), "missing")
		require.Error(t, err)
	})

	t.Run("RunIsBoundedByTimeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := replica(t, b, schedule.Job{Name: "stuck", Spec: "@hourly", Timeout: 50 * time.Millisecond,
			Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
		ok, err := r.RunOnce(context.Background(), "stuck")
		require.True(t, ok)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("BadSpecFailsConstruction", func(t *testing.T) {
		t.Parallel()
		_, err := schedule.New(nil, nil, nil, schedule.Config{}, schedule.Job{Name: "x", Spec: "every now and then", Run: func(context.Context) error { return nil }})
		require.ErrorContains(t, err, "every now and then")
		_, err = schedule.New(nil, nil, nil, schedule.Config{},
			schedule.Job{Name: "x", Spec: "@hourly", Run: func(context.Context) error { return nil }},
			schedule.Job{Name: "x", Spec: "@hourly", Run: func(context.Context) error { return nil }})
		require.ErrorContains(t, err, "twice")
	})

	t.Run("StartCatchesUpAJobNoReplicaRanWithinItsInterval", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var runs, plain atomic.Int64
		jobs := []schedule.Job{
			{Name: "cleanup", Spec: "@every 1h", CatchUp: true, Run: func(context.Context) error { runs.Add(1); return nil }},
			{Name: "poll", Spec: "@every 1h", Run: func(context.Context) error { plain.Add(1); return nil }},
		}
		// start is one replica's life, shorter than the interval: its own
		// cron never reaches a tick.
		start := func() {
			t.Helper()
			r := replica(t, b, jobs...)
			require.NoError(t, r.Start(context.Background()))
			t.Cleanup(r.Stop)
		}
		start()
		require.Eventually(t, func() bool { return runs.Load() == 1 }, 10*time.Second, 10*time.Millisecond,
			"a job never run is run at start")
		advance(b, 40*time.Minute)
		start()
		require.Never(t, func() bool { return runs.Load() != 1 }, 300*time.Millisecond, 10*time.Millisecond,
			"a run 40 minutes ago is within the interval")
		advance(b, 40*time.Minute)
		start()
		require.Eventually(t, func() bool { return runs.Load() == 2 }, 10*time.Second, 10*time.Millisecond,
			"80 minutes since the last run is past the interval")
		require.Zero(t, plain.Load(), "a job without CatchUp waits for its tick")
	})

	t.Run("StartRunsOnScheduleAndStopWaits", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.NewPool(t)
		ran := make(chan struct{}, 10)
		r, err := schedule.New(pool, slog.New(slog.DiscardHandler), metrics.New(), schedule.Config{},
			schedule.Job{Name: "tick", Spec: "@every 1s", Run: func(context.Context) error { ran <- struct{}{}; return nil }})
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background()))
		require.Error(t, r.Start(context.Background()))
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("job never ran")
		}
		r.Stop()
		r.Stop()
	})
}
