package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

// GiveBack must lock in the order limits_admit does (the line's window row,
// then the pair row, then the line's volume row); otherwise a give-back
// racing an admission of the same pair deadlocks.
func TestGiveBackLocksInAdmissionOrder(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	lim := ratelimit.New(pool, nil, metrics.New(), limits(func(c *ratelimit.Config) { c.HitLimit = 0 }))
	clock := pgtest.NewClock(t, pool, t0)
	line := insertLine(t, pool, 0, time.Time{})
	ctx := context.Background()
	h := "+15550009999"
	d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{h}}, t0)
	require.True(t, d.Admitted())

	// An admission of the same pair in flight: it holds the line's window
	// row and will next take the pair row and write the line's volume row
	// of this minute.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT 1 FROM line_window WHERE line_id = $1 FOR UPDATE`, line)
	require.NoError(t, err)

	gb := make(chan error, 1)
	go func() {
		gb <- lim.GiveBack(ctx, line, []string{h}, d.At)
	}()
	// Wait until the give-back is blocked on a lock.
	require.Eventually(t, func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE '%pair_state%line_volume%'`).Scan(&n)
		return n == 1
	}, 10*time.Second, 10*time.Millisecond)

	_, err = tx.Exec(ctx, `SELECT 1 FROM pair_state WHERE line_id = $1 AND handle = $2 FOR UPDATE`, line, h)
	require.NoError(t, err, "the admission deadlocked with the give-back")
	_, err = tx.Exec(ctx, `UPDATE line_volume SET outbound = outbound WHERE line_id = $1 AND minute = $2`, line, t0.Truncate(time.Minute))
	require.NoError(t, err, "the admission deadlocked with the give-back")
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-gb)
}
