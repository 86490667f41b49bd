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

func TestPairGuard(t *testing.T) {
	t.Parallel()

	// A full window of sends at t0, then one more 60.5 s later: counted
	// for the window alone it fits, counted for the window plus the guard
	// it waits until the first sends are 61 s old.
	for _, tc := range []struct {
		name      string
		guard     time.Duration
		admitted  bool
		retryHint time.Duration
	}{
		{"WithoutAGuardTheWindowAloneCounts", 0, true, 0},
		{"ASendCountsForTheWindowPlusTheGuard", time.Second, false, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			lim := ratelimit.New(pool, nil, metrics.New(), limits(func(c *ratelimit.Config) {
				c.HitLimit = 0
				c.Policy.DefaultBudget = 1_000_000
				c.PairGuard = tc.guard
			}))
			clock := pgtest.NewClock(t, pool, t0)
			req := ratelimit.Request{LineID: insertLine(t, pool, 0, time.Time{}), Handles: []string{"+17775550101"}}
			for i := range pairLimit {
				require.True(t, admitAt(t, clock, lim, req, t0).Admitted(), "send %d", i)
			}

			// The cleanup keeps a pair whose sends still count.
			clock.Set(t0.Add(60500 * time.Millisecond))
			_, err := lim.Cleanup(context.Background())
			require.NoError(t, err)

			d := admitAt(t, clock, lim, req, t0.Add(60500*time.Millisecond))
			require.Equal(t, tc.admitted, d.Admitted(), d.Outcome)
			require.Equal(t, tc.retryHint, d.RetryAfter)
			if tc.admitted {
				return
			}
			// The window is closed: at exactly 61 s the first sends still count.
			require.False(t, admitAt(t, clock, lim, req, t0.Add(61*time.Second)).Admitted())
			require.True(t, admitAt(t, clock, lim, req, t0.Add(61*time.Second+time.Millisecond)).Admitted())
		})
	}
}
