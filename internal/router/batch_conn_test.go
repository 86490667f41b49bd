package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

// Signup batches keep one connection while they run back to back.
func TestBatchConnection(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) *Service {
		t.Helper()
		pool := pgtest.NewPool(t)
		c := testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
		ls := lines.New(pool, nil, testkit.Logger(t), lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.5,
			MsgsPerUserPerDay: 0.5, SignupRampPerHour: 1000, Now: c.Now})
		cfg := DefaultConfig()
		cfg.Now = c.Now
		for i := range 3 {
			_, err := pool.Exec(context.Background(),
				`INSERT INTO lines (number, budget_override, warmup_started_at) VALUES ($1, 100, '2020-01-01')`,
				fmt.Sprintf("+1555040%04d", i))
			require.NoError(t, err)
		}
		return New(pool, ls, testkit.Logger(t), nil, cfg)
	}
	// released waits until no connection of the pool is in use.
	released := func(t *testing.T, s *Service) {
		t.Helper()
		require.Eventually(t, func() bool { return s.pool.Stat().AcquiredConns() == 0 },
			5*time.Second, 10*time.Millisecond, "the batches' connection was not given back")
	}

	t.Run("GivesTheConnectionBackWhenIdle", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		a, err := s.Assign(context.Background(), SignupRequest{UserRef: "u1"})
		require.NoError(t, err)
		require.True(t, a.Created)
		released(t, s)
	})

	t.Run("ABrokenKeptConnectionIsReplaced", func(t *testing.T) {
		t.Parallel()
		s := setup(t)
		ctx := context.Background()
		// A connection kept from an earlier batch whose server went away.
		c, err := s.pool.Acquire(ctx)
		require.NoError(t, err)
		pid := c.Conn().PgConn().PID()
		_, err = s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var n int
			return s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n) == nil && n == 0
		}, 5*time.Second, 10*time.Millisecond)
		s.batchConn = c

		a, err := s.Assign(ctx, SignupRequest{UserRef: "u1"})
		require.NoError(t, err)
		require.True(t, a.Created)
		released(t, s)
	})
}
