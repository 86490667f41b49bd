package ratelimit_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

// The line's running 24 h total (line_window) must equal what summing its
// per-minute rows gives, whatever mix of admissions, give-backs, inbound
// messages, pruning and clock moves (forward by minutes to days, and back)
// came before, and the budget must refuse exactly at the limit the sum
// implies.
func TestRunningTotalMatchesTheMinuteRows(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const budget = 40
	lim := ratelimit.New(pool, nil, metrics.New(), limits(func(c *ratelimit.Config) {
		c.HitLimit = 0
		c.PairLimit = 1000
		c.Policy.DefaultBudget = budget
		c.Policy.ReplyReserve = 0
		c.Policy.Warmup = 0
	}))
	clock := pgtest.NewClock(t, pool, t0)
	line := insertLine(t, pool, 0, time.Time{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 13))
	now := t0
	var admitted []ratelimit.Decision

	sum := func(at time.Time) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(inbound + outbound), 0) FROM line_volume
			WHERE line_id = $1 AND minute >= date_trunc('minute', $2::timestamptz) - interval '1440 minutes'
			  AND minute <= date_trunc('minute', $2::timestamptz)`, line, at).Scan(&n))
		return n
	}
	for step := range 400 {
		switch op := rng.IntN(10); {
		case op < 5:
			used := sum(now)
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550001111"}}, now)
			require.Equal(t, used < budget, d.Admitted(), "step %d: %d used of %d", step, used, budget)
			if d.Admitted() {
				admitted = append(admitted, d)
			}
		case op < 6 && len(admitted) > 0:
			i := rng.IntN(len(admitted))
			require.NoError(t, lim.GiveBack(ctx, line, []string{"+15550001111"}, admitted[i].At))
			admitted = append(admitted[:i], admitted[i+1:]...)
		case op < 8:
			clock.Set(now)
			require.NoError(t, lim.RecordInbound(ctx, line, nil, now.Add(-time.Duration(rng.IntN(120))*time.Second)))
		case op < 9:
			now = now.Add(time.Duration(rng.IntN(6*60)) * time.Minute)
			if rng.IntN(8) == 0 {
				now = now.Add(-time.Duration(rng.IntN(3*60)) * time.Minute)
			}
		default:
			clock.Set(now)
			_, err := lim.Cleanup(ctx)
			require.NoError(t, err)
		}
	}
	// The running total, brought to now by one more admission, is the sum.
	clock.Set(now)
	used := sum(now)
	d, err := lim.Admit(ctx, ratelimit.Request{LineID: line, Handles: []string{"+15550002222"}})
	require.NoError(t, err)
	require.Equal(t, used < budget, d.Admitted())
	var total, rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT w.total, (SELECT coalesce(sum(v.inbound + v.outbound), 0) FROM line_volume AS v
		WHERE v.line_id = w.line_id AND v.minute >= w.since) FROM line_window AS w WHERE w.line_id = $1`, line).Scan(&total, &rows))
	require.Equal(t, rows, total)
}
