package schedule_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

	type testBundle struct {
		url   string
		clock *testkit.Clock
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		return &testBundle{url: pgtest.NewURL(t), clock: testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))}
	}
	// replica builds a runner with its own pool, as another gateway would.
	replica := func(t *testing.T, b *testBundle, jobs ...schedule.Job) *schedule.Runner {
		t.Helper()
		pool, err := store.Open(context.Background(), store.PoolConfig{URL: b.url, MaxConns: 4})
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		r, err := schedule.New(pool, slog.New(slog.DiscardHandler), metrics.New(), schedule.Config{Now: b.clock.Now}, jobs...)
		require.NoError(t, err)
		return r
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
		b.clock.Advance(time.Minute) // the same tick, seen late by a slow replica
		require.Equal(t, 0, tick())
		b.clock.Advance(4 * time.Minute) // the next tick
		require.Equal(t, 1, tick())
		require.Equal(t, int64(2), runs.Load())
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
		b.clock.Advance(10 * time.Minute) // a later tick while the run goes on
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
