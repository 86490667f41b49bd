package ratelimit_test

import (
	"cmp"
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

	setup := func(t *testing.T, cfg ratelimit.Config) (*pgxpool.Pool, *ratelimit.Limiter) {
		pool := pgtest.NewPool(t)
		return pool, ratelimit.New(pool, nil, metrics.New(), cfg)
	}

	// send admits one send to a fresh recipient, so the pair window never
	// interferes. The counter is shared by parallel subtests.
	var n atomic.Int64
	send := func(t *testing.T, lim *ratelimit.Limiter, line int64, reply bool, at time.Time) ratelimit.Decision {
		t.Helper()
		d, err := lim.Admit(context.Background(), ratelimit.Request{
			LineID: line, Handles: []string{fmt.Sprintf("+1888%07d", n.Add(1))}, Reply: reply, At: at,
		})
		require.NoError(t, err)
		return d
	}

	t.Run("ReserveIsForRepliesAndRetryAfterIsWhenTheWindowFrees", func(t *testing.T) {
		t.Parallel()
		pool, lim := setup(t, ratelimit.Config{ReplyReserve: 0.1})
		line := insertLine(t, pool, 20, time.Time{}) // 18 proactive + 2 reply-only
		user, _ := insertUser(t, pool, line)
		ctx := context.Background()

		require.NoError(t, lim.RecordInbound(ctx, line, &user, t0))
		for i := range 17 {
			d := send(t, lim, line, false, t0.Add(time.Duration(i+1)*time.Minute))
			require.True(t, d.Admitted(), "send %d", i)
		}
		at := t0.Add(30 * time.Minute)
		d := send(t, lim, line, false, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, 18, d.BudgetUsed)
		require.Equal(t, 18, d.BudgetLimit)
		// The inbound message's minute (10:00) leaves the window at 10:00 next day.
		require.Equal(t, t0.Truncate(time.Minute).Add(24*time.Hour).Sub(at), d.RetryAfter)

		// A reply still goes through, up to the whole budget.
		for range 2 {
			d = send(t, lim, line, true, at)
			require.True(t, d.Admitted())
			require.Equal(t, 20, d.BudgetLimit)
		}
		d = send(t, lim, line, true, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, t0.Truncate(time.Minute).Add(24*time.Hour).Sub(at), d.RetryAfter)
		// A proactive send now needs three messages to age out: the inbound
		// (10:00) and the sends of 10:01 and 10:02.
		d = send(t, lim, line, false, at)
		require.Equal(t, ratelimit.OutcomeLineBudget, d.Outcome)
		require.Equal(t, t0.Truncate(time.Minute).Add(2*time.Minute+24*time.Hour).Sub(at), d.RetryAfter)

		in, out := volume(t, pool, line)
		require.Equal(t, 1, in)
		require.Equal(t, 19, out)

		// A day later the oldest minutes have left the window.
		d = send(t, lim, line, false, t0.Truncate(time.Minute).Add(24*time.Hour+2*time.Minute))
		require.True(t, d.Admitted())
	})

	t.Run("IsReplyNeedsARecentInbound", func(t *testing.T) {
		t.Parallel()
		_, lim := setup(t, ratelimit.Config{ReplyWindow: 30 * time.Minute})
		recent := t0.Add(-30 * time.Minute)
		old := t0.Add(-31 * time.Minute)
		require.True(t, lim.IsReply("reply", &recent, t0))
		require.False(t, lim.IsReply("reply", &old, t0))
		require.False(t, lim.IsReply("reply", nil, t0))
		require.False(t, lim.IsReply("proactive", &recent, t0))
	})

	t.Run("WarmUpRampsFromTwentyPercent", func(t *testing.T) {
		t.Parallel()
		pool, lim := setup(t, ratelimit.Config{DailyBudget: 1000, Warmup: 14 * 24 * time.Hour, ReplyReserve: 0.1})
		fresh := insertLine(t, pool, 0, t0)
		half := insertLine(t, pool, 0, t0.Add(-7*24*time.Hour))
		done := insertLine(t, pool, 0, t0.Add(-30*24*time.Hour))
		for _, tc := range []struct {
			line  int64
			limit int
		}{{fresh, 180}, {half, 540}, {done, 900}} {
			d := send(t, lim, tc.line, false, t0)
			require.True(t, d.Admitted())
			require.Equal(t, tc.limit, d.BudgetLimit)
		}
	})

	// The warm-up budget is computed twice: in Go by package lines (the ops
	// API's effective budget and the user cap) and in SQL by rl_admit (what
	// a send may use). This pins both to the same answers.
	t.Run("WarmUpBudgetMatchesLinesCapacity", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.NewPool(t)
		const day = 24 * time.Hour
		for _, tc := range []struct {
			budget, override, warmupDays int
			age                          time.Duration
		}{
			{budget: 7000, warmupDays: 14, age: 0},
			{budget: 7000, warmupDays: 14, age: time.Hour},
			{budget: 7000, warmupDays: 14, age: day},
			{budget: 7000, warmupDays: 14, age: 3*day + 12*time.Hour},
			{budget: 7000, warmupDays: 14, age: 7 * day},
			{budget: 7000, warmupDays: 14, age: 14*day - time.Minute},
			{budget: 7000, warmupDays: 14, age: 14 * day},
			{budget: 7000, warmupDays: 14, age: 40 * day},
			{budget: 7000, warmupDays: 14, age: -day}, // warm-up starts in the future
			{budget: 1000, warmupDays: 14, age: 5 * day},
			{budget: 333, warmupDays: 3, age: day},
			{budget: 20, warmupDays: 7, age: 2 * day},
			{budget: 7000, override: 150, warmupDays: 14, age: 10 * day},
			{budget: 7000, warmupDays: 0, age: 0},
		} {
			line := insertLine(t, pool, tc.override, t0.Add(-tc.age))
			lim := ratelimit.New(pool, nil, metrics.New(), ratelimit.Config{
				DailyBudget: tc.budget, Warmup: time.Duration(tc.warmupDays) * day,
			})
			budget := cmp.Or(tc.override, tc.budget)
			want, _ := lines.Capacity(budget, lines.WarmupFactor(t0.Add(-tc.age), t0, tc.warmupDays), 0, 0)
			// A reply may use the whole budget, so its limit is the
			// effective budget itself.
			d := send(t, lim, line, true, t0)
			require.Equal(t, want, d.BudgetLimit, "%+v", tc)
		}
	})

	t.Run("ConcurrentSendsNeverPassTheBudget", func(t *testing.T) {
		t.Parallel()
		pool, lim := setup(t, ratelimit.Config{ReplyReserve: 0.01})
		line := insertLine(t, pool, 100, time.Time{}) // 99 proactive
		ctx := context.Background()
		type res struct {
			d   ratelimit.Decision
			err error
		}
		out := make(chan res, 300)
		for i := range 300 {
			go func() {
				d, err := lim.Admit(ctx, ratelimit.Request{LineID: line, Handles: []string{"+1999" + time.Duration(i).String()}, At: t0})
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
