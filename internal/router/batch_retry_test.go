package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/testkit"
)

// A value Postgres refuses (validation stops a NUL before this; a column
// rule added later might not be) fails only its own signup, not the
// others that shared its batch.
func TestBatchWithAValuePostgresRefuses(t *testing.T) {
	t.Parallel()
	s, pool, _ := oneLineService(t)

	var jobs []*job
	for i := range 5 {
		req := SignupRequest{UserRef: fmt.Sprintf("u%d", i)}
		if i == 2 {
			req.DisplayName = "x\x00" // past validate, as a caller of the batch could be
		}
		j := &job{req: req}
		require.NoError(t, j.mint())
		jobs = append(jobs, j)
	}
	s.runBatch(context.Background(), jobs)

	for i, j := range jobs {
		if i == 2 {
			require.ErrorIs(t, store.Interpret(j.err), store.ErrInvalidData)
			continue
		}
		require.NoError(t, j.err, "signup %d", i)
		require.True(t, j.res.Created, "signup %d", i)
	}
	var users int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&users))
	require.Equal(t, 4, users)
}

// A signup batch that Postgres ends as a deadlock's victim runs again: a
// caller never sees the deadlock.
func TestBatchDeadlockVictimRunsAgain(t *testing.T) {
	t.Parallel()
	s, pool, line := oneLineService(t)
	ctx := context.Background()

	// Another writer holds the line's row, then asks for the pool lock the
	// waiting batch holds shared.
	other, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = other.Rollback(ctx) }()
	_, err = other.Exec(ctx, `SELECT id FROM lines WHERE id = $1 FOR UPDATE`, line)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := s.Assign(ctx, SignupRequest{UserRef: "u1"})
		done <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE a.datname = current_database() AND l.locktype = 'transactionid' AND NOT l.granted`).Scan(&n))
		return n > 0
	}, 10*time.Second, 10*time.Millisecond, "the batch did not wait for the line's row")
	_, err = other.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lines.PoolLockKey) // the batch is the victim
	require.NoError(t, err)
	require.NoError(t, other.Commit(ctx))
	require.NoError(t, <-done)
	var users int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE user_ref = 'u1'`).Scan(&users))
	require.Equal(t, 1, users)
}

// oneLineService is a router on its own database with one warmed-up line.
func oneLineService(t *testing.T) (*Service, *pgxpool.Pool, int64) {
	t.Helper()
	pool := pgtest.NewPool(t)
	c := testkit.NewClock(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
	ls := lines.New(pool, nil, testkit.Logger(t), lines.Config{Policy: lines.DefaultPolicy(), Headroom: 0.15,
		MsgsPerUserPerDay: 20, SignupRampPerHour: 10_000, Now: c.Now})
	cfg := DefaultConfig()
	cfg.Now = c.Now
	var line int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, warmup_started_at) VALUES ('+15550400001', '2020-01-01') RETURNING id`).Scan(&line))
	s := New(pool, ls, testkit.Logger(t), nil, cfg)
	t.Cleanup(s.releaseBatchConn) // batches keep it for the next one
	return s, pool, line
}
