package ratelimit_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

const (
	pairLimit  = 30
	pairWindow = 60 * time.Second
)

// pairModel is the reference: the admitted send times of one pair.
type pairModel struct{ sends []time.Time }

func (m *pairModel) inWindow(now time.Time) []time.Time {
	var in []time.Time
	for _, s := range m.sends {
		if !s.Before(now.Add(-pairWindow)) { // closed window
			in = append(in, s)
		}
	}
	return in
}

// admit returns whether the model admits at now, and the retry hint.
func (m *pairModel) admit(now time.Time) (bool, time.Duration) {
	in := m.inWindow(now)
	if len(in) < pairLimit {
		m.sends = append(m.sends, now)
		return true, 0
	}
	wait := slices.MinFunc(in, func(a, b time.Time) int { return a.Compare(b) }).Add(pairWindow).Sub(now)
	return false, (wait.Truncate(time.Second) + time.Second)
}

func TestPairWindow(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) (*pgxpool.Pool, *ratelimit.Limiter, int64, *pgtest.Clock) {
		pool := pgtest.NewPool(t)
		lim := ratelimit.New(pool, nil, metrics.New(), limits(func(c *ratelimit.Config) {
			c.HitLimit = 0
			c.Policy.DefaultBudget = 1_000_000
		}))
		return pool, lim, insertLine(t, pool, 0, time.Time{}), pgtest.NewClock(t, pool, t0)
	}

	t.Run("MatchesReferenceModel", func(t *testing.T) {
		t.Parallel()
		_, lim, line, clock := setup(t)
		ctx := context.Background()
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			run++
			handles := []string{fmt.Sprintf("+1777%03d0001", run), fmt.Sprintf("+1777%03d0002", run)}
			models := map[string]*pairModel{handles[0]: {}, handles[1]: {}}
			// What the database admitted, per pair: the invariant is checked
			// on these, not on the model's own history.
			dbAdmitted := map[string][]time.Time{}
			now := t0
			steps := rapid.IntRange(1, 120).Draw(rt, "steps")
			for range steps {
				h := handles[rapid.IntRange(0, 1).Draw(rt, "handle")]
				m := models[h]
				// Advance by 0 (same instant), by a few ms, around the
				// 60 s boundary, by a lot, or to the very instant the
				// pair's oldest send turns 60 s old (the closed edge).
				switch rapid.IntRange(0, 4).Draw(rt, "advance_kind") {
				case 0:
				case 1:
					now = now.Add(time.Duration(rapid.IntRange(1, 3000).Draw(rt, "ms")) * time.Millisecond)
				case 2:
					now = now.Add(time.Duration(rapid.IntRange(59_998, 60_002).Draw(rt, "ms_boundary")) * time.Millisecond)
				case 3:
					now = now.Add(time.Duration(rapid.IntRange(1, 70).Draw(rt, "s")) * time.Second)
				case 4:
					if in := m.inWindow(now); len(in) > 0 {
						edge := slices.MinFunc(in, func(a, b time.Time) int { return a.Compare(b) }).Add(pairWindow)
						edge = edge.Add(time.Duration(rapid.IntRange(-1, 1).Draw(rt, "edge_us")) * time.Microsecond)
						if edge.After(now) {
							now = edge
						}
					}
				}
				// A burst of concurrent admissions at one instant: any
				// interleaving must admit exactly what fits.
				n := rapid.IntRange(1, 8).Draw(rt, "burst")
				decisions := make([]ratelimit.Decision, n)
				errs := make([]error, n)
				clock.Set(now)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						decisions[i], errs[i] = lim.Admit(ctx, ratelimit.Request{LineID: line, Handles: []string{h}})
					})
				}
				wg.Wait()
				admitted := 0
				for i := range n {
					require.NoError(rt, errs[i])
					if decisions[i].Admitted() {
						admitted++
						require.True(rt, decisions[i].At.Equal(now), "stamped with the database clock")
						dbAdmitted[h] = append(dbAdmitted[h], decisions[i].At)
					}
				}
				want := 0
				var wantRetry time.Duration
				for range n {
					ok, retry := m.admit(now)
					if ok {
						want++
					} else {
						wantRetry = retry
					}
				}
				require.Equal(rt, want, admitted, "admitted at %s", now)
				for _, d := range decisions {
					if !d.Admitted() {
						require.Equal(rt, ratelimit.OutcomePairLimit, d.Outcome)
						require.Equal(rt, wantRetry, d.RetryAfter, "retry after at %s", now)
					}
				}
			}
			// The invariant itself, on what the database admitted: never
			// more than the limit in any closed 60 s interval.
			for _, sends := range dbAdmitted {
				for _, s := range sends {
					n := 0
					for _, u := range sends {
						if !u.Before(s.Add(-pairWindow)) && !u.After(s) {
							n++
						}
					}
					require.LessOrEqual(rt, n, pairLimit)
				}
			}
		})
	})

	t.Run("RetryingAfterRetryAfterIsAdmitted", func(t *testing.T) {
		t.Parallel()
		_, lim, line, clock := setup(t)
		for i := range pairLimit {
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550001111"}}, t0.Add(time.Duration(i)*100*time.Millisecond))
			require.True(t, d.Admitted())
		}
		at := t0.Add(10 * time.Second)
		d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550001111"}}, at)
		require.Equal(t, ratelimit.OutcomePairLimit, d.Outcome)
		require.Equal(t, 51*time.Second, d.RetryAfter)
		retry := d.RetryAfter
		d = admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550001111"}}, at.Add(50*time.Second))
		require.False(t, d.Admitted(), "exactly 60 s after the oldest send it is still in the window")
		d = admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550001111"}}, at.Add(retry))
		require.True(t, d.Admitted())
	})

	t.Run("GroupSendTakesASlotPerRecipientOrNone", func(t *testing.T) {
		t.Parallel()
		_, lim, line, clock := setup(t)
		for range pairLimit {
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550002222"}}, t0)
			require.True(t, d.Admitted())
		}
		for range pairLimit - 1 {
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550003333"}}, t0)
			require.True(t, d.Admitted())
		}
		d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550003333", "+15550002222"}}, t0)
		require.Equal(t, ratelimit.OutcomePairLimit, d.Outcome)
		// The refused group send took nothing from the other recipient.
		d = admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550003333"}}, t0)
		require.True(t, d.Admitted())
	})

	t.Run("GiveBackFreesTheSlotAndTheBudgetUnit", func(t *testing.T) {
		t.Parallel()
		pool, lim, line, clock := setup(t)
		ctx := context.Background()
		var last ratelimit.Decision
		for range pairLimit {
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550004444"}}, t0)
			require.True(t, d.Admitted())
			last = d
		}
		_, out := volume(t, pool, line)
		require.Equal(t, pairLimit, out)
		require.NoError(t, lim.GiveBack(ctx, line, []string{"+15550004444"}, last.At))
		_, out = volume(t, pool, line)
		require.Equal(t, pairLimit-1, out)
		d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{"+15550004444"}}, t0.Add(time.Second))
		require.True(t, d.Admitted())
	})

	t.Run("LineDownIsRefusedWithRetryAfterAndNotCounted", func(t *testing.T) {
		t.Parallel()
		pool, lim, line, _ := setup(t)
		_, err := pool.Exec(context.Background(), `UPDATE lines SET service_status = 'FLAGGED' WHERE id = $1`, line)
		require.NoError(t, err)
		d, err := lim.Admit(context.Background(), ratelimit.Request{LineID: line, Handles: []string{"+15550005555"}})
		require.NoError(t, err)
		require.Equal(t, ratelimit.OutcomeLineUnavailable, d.Outcome)
		ae, ok := apperr.As(lim.Check(context.Background(), line, "+15550005555", d))
		require.True(t, ok)
		require.Equal(t, apperr.Unavailable, ae.Kind)
		require.Equal(t, ratelimit.LineRetryAfter, ae.RetryAfter, "a 503 says when to ask again")
		require.Equal(t, "line_down", ae.Details["why"])
		_, out := volume(t, pool, line)
		require.Zero(t, out)
		var sends int
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT coalesce(sum(cardinality(sends)), 0) FROM pair_state WHERE line_id = $1`, line).Scan(&sends))
		require.Zero(t, sends, "nor is its pair slot taken")
	})
}

func TestLoopGuard(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) (*ratelimit.Limiter, *metrics.Metrics, int64, *pgtest.Clock) {
		pool := pgtest.NewPool(t)
		m := metrics.New()
		lim := ratelimit.New(pool, nil, m, ratelimit.DefaultConfig())
		return lim, m, insertLine(t, pool, 0, time.Time{}), pgtest.NewClock(t, pool, t0)
	}

	// fill sends the pair's limit at at, then one more that is refused.
	fill := func(t *testing.T, clock *pgtest.Clock, lim *ratelimit.Limiter, line int64, h string, at time.Time) ratelimit.Decision {
		t.Helper()
		for range pairLimit {
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{h}}, at)
			require.True(t, d.Admitted())
		}
		d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{h}}, at)
		return d
	}

	t.Run("QuarantinesAfterThreeFullWindowsAndOpsRelease", func(t *testing.T) {
		t.Parallel()
		lim, m, line, clock := setup(t)
		ctx := context.Background()
		h := "+15550006666"
		require.Equal(t, ratelimit.OutcomePairLimit, fill(t, clock, lim, line, h, t0).Outcome)
		// Refused retries within the same full window are one hit.
		for range 5 {
			d := admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{h}}, t0.Add(time.Second))
			require.Equal(t, ratelimit.OutcomePairLimit, d.Outcome)
			require.Error(t, lim.Check(ctx, line, h, d))
		}
		require.Equal(t, ratelimit.OutcomePairLimit, fill(t, clock, lim, line, h, t0.Add(61*time.Second)).Outcome)
		d := fill(t, clock, lim, line, h, t0.Add(122*time.Second))
		require.Equal(t, ratelimit.OutcomePairQuarantined, d.Outcome)
		require.True(t, d.Quarantined)
		require.Equal(t, time.Hour, d.RetryAfter)
		err := lim.Check(ctx, line, h, d)
		ae, ok := apperr.As(err)
		require.True(t, ok)
		require.Equal(t, "pair_quarantined", ae.Code)
		require.Equal(t, apperr.RateLimited, ae.Kind)

		// Still quarantined long after the window emptied.
		d = admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{h}}, t0.Add(10*time.Minute))
		require.Equal(t, ratelimit.OutcomePairQuarantined, d.Outcome)
		require.Equal(t, t0.Add(122*time.Second+time.Hour).Sub(t0.Add(10*time.Minute)), d.RetryAfter)

		qs, err := lim.Quarantines(ctx)
		require.NoError(t, err)
		require.Len(t, qs, 1)
		require.Equal(t, line, qs[0].LineID)
		require.Equal(t, h, qs[0].Handle)
		require.Equal(t, 3, qs[0].Hits)

		_, err = lim.Release(ctx, line, h, "ops-key")
		require.NoError(t, err)
		qs, err = lim.Quarantines(ctx)
		require.NoError(t, err)
		require.Empty(t, qs)
		d = admitAt(t, clock, lim, ratelimit.Request{LineID: line, Handles: []string{h}}, t0.Add(10*time.Minute))
		require.True(t, d.Admitted())

		_, err = lim.Release(ctx, line, h, "ops-key")
		require.True(t, apperr.IsCode(err, "quarantine_not_found"))
		require.Equal(t, 1.0, counterValue(t, m.PairQuarantines))
		require.Equal(t, 5.0, counterValue(t, m.SendsRefused.WithLabelValues("pair_limit")))
	})

	t.Run("HitsOlderThanTenMinutesDoNotCount", func(t *testing.T) {
		t.Parallel()
		lim, _, line, clock := setup(t)
		h := "+15550007777"
		require.Equal(t, ratelimit.OutcomePairLimit, fill(t, clock, lim, line, h, t0).Outcome)
		require.Equal(t, ratelimit.OutcomePairLimit, fill(t, clock, lim, line, h, t0.Add(5*time.Minute)).Outcome)
		require.Equal(t, ratelimit.OutcomePairLimit, fill(t, clock, lim, line, h, t0.Add(11*time.Minute)).Outcome)
	})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}
