package ratelimit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

func TestBudget(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T, cfg ratelimit.Config) (*pgxpool.Pool, *ratelimit.Limiter, *pgtest.Clock) {
		pool := pgtest.NewPool(t)
		return pool, ratelimit.New(pool, nil, metrics.New(), cfg), pgtest.NewClock(t, pool, t0)
	}
	// send admits one send to a fresh recipient, so the pair window never
	// interferes. The counter is shared by parallel subtests.
	var n atomic.Int64
	send := func(t *testing.T, clock *pgtest.Clock, lim *ratelimit.Limiter, line int64, reply bool, at time.Time) ratelimit.Decision {
		t.Helper()
		return admitAt(t, clock, lim, ratelimit.Request{
			LineID: line, Handles: []string{fmt.Sprintf("+1888%07d", n.Add(1))}, Reply: reply,
		}, at)
	}

	t.Run("ReserveIsForRepliesAndRetryAfterIsWhenTheWindowFrees", func(t *testing.T) {
		t.Parallel()
		pool, lim, clock := setup(t, limits(func(c *ratelimit.Config) { c.Policy.ReplyReserve = 0.1 }))
		line := insertLine(t, pool, 20, time.Time{}) // 18 proactive + 2 reply-only
		user, _ := insertUser(t, pool, line)
		ctx := context.Background()
		require.NoError(t, lim.RecordInbound(ctx, line, &user, t0))
		for i := range 17 {
			d := send(t, clock, lim, line, false, t0.Add(time.Duration(i+1)*time.Minute))
			require.True(t, d.Admitted(), "send %d", i)
		}
		at := t0.Add(30 * time.Minute)
		d := send(t, clock, lim, line, false, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, 18, d.BudgetUsed)
		require.Equal(t, 18, d.BudgetLimit)
		// The inbound message's minute (10:00) leaves the window 24 h after
		// it ended: at 10:01 next day.
		require.Equal(t, t0.Truncate(time.Minute).Add(24*time.Hour+time.Minute).Sub(at), d.RetryAfter)
		// A reply still goes through, up to the whole budget.
		for range 2 {
			d = send(t, clock, lim, line, true, at)
			require.True(t, d.Admitted())
			require.Equal(t, 20, d.BudgetLimit)
		}
		d = send(t, clock, lim, line, true, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, t0.Truncate(time.Minute).Add(24*time.Hour+time.Minute).Sub(at), d.RetryAfter)
		// A proactive send now needs three messages to age out: the inbound
		// (10:00) and the sends of 10:01 and 10:02.
		d = send(t, clock, lim, line, false, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, t0.Truncate(time.Minute).Add(3*time.Minute+24*time.Hour).Sub(at), d.RetryAfter)
		in, out := volume(t, pool, line)
		require.Equal(t, 1, in)
		require.Equal(t, 19, out)
		// A day later the oldest minutes have left the window.
		d = send(t, clock, lim, line, false, t0.Truncate(time.Minute).Add(24*time.Hour+2*time.Minute))
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome, "10:02 has not ended a day ago")
		d = send(t, clock, lim, line, false, t0.Truncate(time.Minute).Add(24*time.Hour+3*time.Minute))
		require.True(t, d.Admitted())
	})

	// Volume is kept by minute: a message counts until 24 h after the end
	// of its minute, never less than 24 h after it was sent (Linq counts a
	// rolling 24 h).
	t.Run("AMessageCountsForAFull24Hours", func(t *testing.T) {
		t.Parallel()
		pool, lim, clock := setup(t, limits(func(c *ratelimit.Config) { c.Policy.ReplyReserve = 0 }))
		line := insertLine(t, pool, 1, time.Time{})
		minute := t0.Truncate(time.Minute)
		require.True(t, send(t, clock, lim, line, false, minute.Add(59*time.Second)).Admitted())

		at := minute.Add(24*time.Hour + 30*time.Second) // 23 h 59 min 31 s after the send
		d := send(t, clock, lim, line, false, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, 30*time.Second, d.RetryAfter)
		require.True(t, send(t, clock, lim, line, false, at.Add(d.RetryAfter)).Admitted())
	})

	t.Run("WarmUpRampsFromTwentyPercent", func(t *testing.T) {
		t.Parallel()
		pool, lim, clock := setup(t, limits(func(c *ratelimit.Config) {
			c.Policy = lines.Policy{DefaultBudget: 1000, Warmup: 14 * 24 * time.Hour, ReplyReserve: 0.1, AtRiskPace: 0.5}
		}))
		fresh := insertLine(t, pool, 0, t0)
		half := insertLine(t, pool, 0, t0.Add(-7*24*time.Hour))
		done := insertLine(t, pool, 0, t0.Add(-30*24*time.Hour))
		for _, tc := range []struct {
			line  int64
			limit int
		}{{fresh, 180}, {half, 540}, {done, 900}} {
			d := send(t, clock, lim, tc.line, false, t0)
			require.True(t, d.Admitted())
			require.Equal(t, tc.limit, d.BudgetLimit)
		}
	})

	// A budget below 5 must not round to nothing during warm-up: a line
	// with a budget can always send one.
	t.Run("SmallOverrideInWarmUpStillSendsOne", func(t *testing.T) {
		t.Parallel()
		pool, lim, clock := setup(t, ratelimit.DefaultConfig())
		line := insertLine(t, pool, 3, t0) // 3 × 0.2 = 0.6
		d := send(t, clock, lim, line, false, t0)
		require.True(t, d.Admitted(), "%+v", d)
		require.Equal(t, 1, d.BudgetLimit)
		d = send(t, clock, lim, line, false, t0)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
	})

	// The budget rule has one definition (line_policy): what the pool shows
	// ops and plans capacity with is what admission applies.
	t.Run("PoolShowsTheBudgetAdmissionApplies", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.NewPool(t)
		clock := pgtest.NewClock(t, pool, t0)
		const day = 24 * time.Hour
		for _, tc := range []struct {
			budget, override, warmupDays int
			age                          time.Duration
		}{
			{budget: 7000, warmupDays: 14, age: 0},
			{budget: 7000, warmupDays: 14, age: time.Hour},
			{budget: 7000, warmupDays: 14, age: 3*day + 12*time.Hour},
			{budget: 7000, warmupDays: 14, age: 14*day - time.Minute},
			{budget: 7000, warmupDays: 14, age: 40 * day},
			{budget: 7000, warmupDays: 14, age: -day}, // warm-up starts in the future
			{budget: 333, warmupDays: 3, age: day},
			{budget: 7000, override: 150, warmupDays: 14, age: 10 * day},
			{budget: 7000, override: 2, warmupDays: 14, age: 0},
			{budget: 7000, warmupDays: 0, age: 0},
		} {
			line := insertLine(t, pool, tc.override, t0.Add(-tc.age))
			policy := lines.Policy{DefaultBudget: tc.budget, Warmup: time.Duration(tc.warmupDays) * day, ReplyReserve: 0.1, AtRiskPace: 0.5}
			lim := ratelimit.New(pool, nil, metrics.New(), limits(func(c *ratelimit.Config) { c.Policy = policy }))
			lcfg := lines.DefaultConfig()
			lcfg.Policy = policy
			ls, err := lines.New(pool, nil, nil, lcfg).Snapshot(context.Background(), pool, 20)
			require.NoError(t, err)
			var shown lines.Line
			for _, l := range ls {
				if l.ID == line {
					shown = l
				}
			}
			reply := send(t, clock, lim, line, true, t0)
			require.Equal(t, shown.EffectiveBudget, reply.BudgetLimit, "%+v", tc)
			proactive := send(t, clock, lim, line, false, t0)
			require.Equal(t, shown.ProactiveBudget, proactive.BudgetLimit, "%+v", tc)
			require.Positive(t, shown.EffectiveBudget, "%+v", tc)
		}
	})

	t.Run("ConcurrentSendsNeverPassTheBudget", func(t *testing.T) {
		t.Parallel()
		pool, lim, _ := setup(t, limits(func(c *ratelimit.Config) { c.Policy.ReplyReserve = 0.01 }))
		line := insertLine(t, pool, 100, time.Time{}) // 99 proactive
		ctx := context.Background()
		type res struct {
			d   ratelimit.Decision
			err error
		}
		out := make(chan res, 300)
		for i := range 300 {
			go func() {
				d, err := lim.Admit(ctx, ratelimit.Request{LineID: line, Handles: []string{"+1999" + time.Duration(i).String()}})
				out <- res{d, err}
			}()
		}
		admitted := 0
		for range 300 {
			r := <-out
			require.NoError(t, r.err)
			if r.d.Admitted() {
				admitted++
			}
		}
		require.Equal(t, 99, admitted)
		_, sent := volume(t, pool, line)
		require.Equal(t, 99, sent)
	})
}

// The line's health policy is applied by admission: sends of a down line
// and proactive sends of a critical one are refused with the reason, an
// at-risk line's proactive budget is paced.
func TestLinePolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, state      string
		reply            bool
		outcome, why     string
		proactiveLimit   int
		setHeldOrRetired string
	}{
		{name: "DownSendsNothing", state: "down", reply: true, outcome: ratelimit.OutcomeLineUnavailable, why: "line_down"},
		{name: "MissingSendsNothing", state: "missing", reply: true, outcome: ratelimit.OutcomeLineUnavailable, why: "line_missing"},
		{name: "CriticalPausesProactive", state: "critical", outcome: ratelimit.OutcomeLineUnavailable, why: "line_paused"},
		{name: "CriticalStillReplies", state: "critical", reply: true, outcome: ratelimit.OutcomeOK, why: "line_paused"},
		{name: "AtRiskIsPaced", state: "at_risk", outcome: ratelimit.OutcomeOK, why: "line_paced", proactiveLimit: 45},
		{name: "HealthySendsAll", state: "ok", outcome: ratelimit.OutcomeOK, proactiveLimit: 90},
		{name: "RetiredSendsNothing", state: "ok", reply: true, outcome: ratelimit.OutcomeLineUnavailable, why: "retired",
			setHeldOrRetired: "UPDATE lines SET admin_state = 'retired' WHERE id = $1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewPool(t)
			lim := ratelimit.New(pool, nil, metrics.New(), ratelimit.DefaultConfig())
			line := insertLine(t, pool, 100, time.Time{})
			ctx := context.Background()
			_, err := pool.Exec(ctx, `UPDATE lines SET health_state = $2 WHERE id = $1`, line, tc.state)
			require.NoError(t, err)
			if tc.setHeldOrRetired != "" {
				_, err = pool.Exec(ctx, tc.setHeldOrRetired, line)
				require.NoError(t, err)
			}
			d, err := lim.Admit(ctx, ratelimit.Request{LineID: line, Handles: []string{"+15550001212"}, Reply: tc.reply})
			require.NoError(t, err)
			require.Equal(t, tc.outcome, d.Outcome)
			require.Equal(t, tc.why, d.Why)
			if tc.proactiveLimit > 0 {
				require.Equal(t, tc.proactiveLimit, d.BudgetLimit)
			}
			if !d.Admitted() {
				_, out := volume(t, pool, line)
				require.Zero(t, out, "a refused send is not counted")
			}
		})
	}
}
