package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/store"
)

// Two transactions that lock two rows in opposite orders: Postgres ends one
// of them, and Deadlocked tells that error from the rest.
func TestDeadlocked(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE deadlock_probe (id integer PRIMARY KEY); INSERT INTO deadlock_probe VALUES (1), (2)`)
	require.NoError(t, err)
	a, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = a.Rollback(ctx) }()
	b, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = b.Rollback(ctx) }()
	const lock = `SELECT id FROM deadlock_probe WHERE id = $1 FOR UPDATE`
	_, err = a.Exec(ctx, lock, 1)
	require.NoError(t, err)
	_, err = b.Exec(ctx, lock, 2)
	require.NoError(t, err)

	errs := make(chan error, 2)
	go func() { _, err := a.Exec(ctx, lock, 2); errs <- err }()
	go func() { _, err := b.Exec(ctx, lock, 1); errs <- err }()
	first, second := <-errs, <-errs
	if first == nil {
		first, second = second, first
	}
	require.NoError(t, second, "the other goes on")
	require.True(t, store.Deadlocked(first), "the victim: %v", first)

	require.False(t, store.Deadlocked(nil))
	require.False(t, store.Deadlocked(errors.New("deadlock detected")), "only Postgres' own 40P01")
	_, err = pool.Exec(ctx, `INSERT INTO deadlock_probe VALUES (1)`)
	require.False(t, store.Deadlocked(err), "a unique violation is not a deadlock: %v", err)
}

// A transaction chosen as a deadlock's victim runs again, a bounded number
// of times; any other error, or an ended context, ends it at once.
func TestRetryDeadlocked(t *testing.T) {
	t.Parallel()
	victim := &pgconn.PgError{Code: "40P01"}
	other := errors.New("unique violation")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name     string
		ctx      context.Context
		errs     []error // each run's error, the last repeated
		wantRuns int
		wantErr  error
	}{
		{"AVictimRunsAgain", context.Background(), []error{victim, nil}, 2, nil},
		{"AtMostDeadlockTriesRuns", context.Background(), []error{victim}, store.DeadlockTries, victim},
		{"AnotherErrorRunsOnce", context.Background(), []error{other}, 1, other},
		{"AnEndedContextRunsOnce", cancelled, []error{victim}, 1, victim},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runs := 0
			n, err := store.RetryDeadlocked(c.ctx, func() (int, error) {
				runs++
				return runs, c.errs[min(runs, len(c.errs))-1]
			})
			require.Equal(t, c.wantRuns, runs)
			require.Equal(t, c.wantRuns, n, "the last run's value")
			require.ErrorIs(t, err, c.wantErr)
		})
	}
}
