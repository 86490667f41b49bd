package lines_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
)

// use is a line's figures in the capacity plan's windows.
type use struct{ In24, Out24, In7, Out7, Signups24, Signups7 int64 }

var rollupSeq atomic.Int64

// TestRollup checks the line_usage job against sums worked out straight
// from line_volume and users at the totals' as_of, while real sends,
// inbound, give-backs and signups land and the windows move past them.
func TestRollup(t *testing.T) {
	t.Parallel()

	// t0 is in the middle of a minute.
	t0 := time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)
	type bundle struct {
		pool   *pgxpool.Pool
		clock  *pgtest.Clock
		lim    *ratelimit.Limiter
		svc    *lines.Service
		rollup *lines.Rollup
		lines  []int64
	}
	setup := func(t *testing.T, cfg lines.RollupConfig) *bundle {
		t.Helper()
		pool := pgtest.NewPool(t)
		b := &bundle{
			pool: pool, clock: pgtest.NewClock(t, pool, t0),
			lim:    ratelimit.New(pool, slog.New(slog.DiscardHandler), metrics.New(), ratelimit.DefaultConfig()),
			rollup: lines.NewRollup(pool, slog.New(slog.DiscardHandler), cfg),
		}
		lc := lines.DefaultConfig()
		lc.Now = b.clock.Now
		b.svc = lines.New(pool, nil, slog.New(slog.DiscardHandler), lc)
		for range 3 {
			var id int64
			require.NoError(t, pool.QueryRow(context.Background(), `INSERT INTO lines (number, warmup_started_at)
				VALUES ($1, '2020-01-01') RETURNING id`, fmt.Sprintf("+1555%07d", rollupSeq.Add(1))).Scan(&id))
			b.lines = append(b.lines, id)
		}
		return b
	}
	// run is one run of the job; every test starts with the clock behind
	// the totals the migration made, which sums them again as of t0.
	run := func(t *testing.T, b *bundle) lines.RollupRun {
		t.Helper()
		r, err := b.rollup.Run(context.Background())
		require.NoError(t, err)
		return r
	}
	// send admits one send to a new recipient, as the send path does.
	send := func(t *testing.T, b *bundle, line int64) ([]string, ratelimit.Decision) {
		t.Helper()
		to := []string{fmt.Sprintf("+1666%07d", rollupSeq.Add(1))}
		d, err := b.lim.Admit(context.Background(), ratelimit.Request{LineID: line, Handles: to})
		require.NoError(t, err)
		require.True(t, d.Admitted(), d.Outcome)
		return to, d
	}
	inbound := func(t *testing.T, b *bundle, line int64, at time.Time) {
		t.Helper()
		require.NoError(t, b.lim.RecordInbound(context.Background(), line, nil, at))
	}
	signup := func(t *testing.T, b *bundle, line int64, at time.Time) int64 {
		t.Helper()
		n := rollupSeq.Add(1)
		var id int64
		require.NoError(t, b.pool.QueryRow(context.Background(), `INSERT INTO users (user_ref, code, home_line_id, current_line_id, created_at)
			VALUES ($1, $1, $2, $2, $3) RETURNING id`, fmt.Sprintf("r%d", n), line, at).Scan(&id))
		return id
	}
	// plan is what the capacity plan shows, and as of when.
	plan := func(t *testing.T, b *bundle) (map[int64]use, time.Time) {
		t.Helper()
		p, err := b.svc.Capacity(context.Background())
		require.NoError(t, err)
		got := map[int64]use{}
		for _, l := range p.Lines {
			got[l.LineID] = use{l.Inbound24h, l.Outbound24h, l.Inbound7d, l.Outbound7d, int64(l.Signups24h), int64(l.Signups7d)}
		}
		return got, p.AsOf
	}
	// direct sums every line's minute rows and users in the windows ending
	// at asOf.
	direct := func(t *testing.T, b *bundle, asOf time.Time) map[int64]use {
		t.Helper()
		rows, err := b.pool.Query(context.Background(), `
			SELECT l.id,
				(SELECT coalesce(sum(v.inbound), 0) FROM line_volume v WHERE v.line_id = l.id AND v.minute > $1::timestamptz - interval '1 day' AND v.minute <= $1),
				(SELECT coalesce(sum(v.outbound), 0) FROM line_volume v WHERE v.line_id = l.id AND v.minute > $1::timestamptz - interval '1 day' AND v.minute <= $1),
				(SELECT coalesce(sum(v.inbound), 0) FROM line_volume v WHERE v.line_id = l.id AND v.minute > $1::timestamptz - interval '7 days' AND v.minute <= $1),
				(SELECT coalesce(sum(v.outbound), 0) FROM line_volume v WHERE v.line_id = l.id AND v.minute > $1::timestamptz - interval '7 days' AND v.minute <= $1),
				(SELECT count(*) FROM users u WHERE u.home_line_id = l.id AND u.created_at > $1::timestamptz - interval '1 day' AND u.created_at <= $1),
				(SELECT count(*) FROM users u WHERE u.home_line_id = l.id AND u.created_at > $1::timestamptz - interval '7 days' AND u.created_at <= $1)
			FROM lines l`, asOf)
		require.NoError(t, err)
		want := map[int64]use{}
		var id int64
		var u use
		_, err = pgx.ForEachRow(rows, []any{&id, &u.In24, &u.Out24, &u.In7, &u.Out7, &u.Signups24, &u.Signups7}, func() error {
			want[id] = u
			return nil
		})
		require.NoError(t, err)
		return want
	}
	// matches checks the plan against the direct sums at its as_of.
	matches := func(t *testing.T, b *bundle, msg string) map[int64]use {
		t.Helper()
		got, asOf := plan(t, b)
		require.Equal(t, direct(t, b, asOf), got, "%s (as of %s)", msg, asOf)
		return got
	}

	t.Run("EqualsDirectSumsAsTrafficLandsAndWindowsMove", func(t *testing.T) {
		t.Parallel()
		b := setup(t, lines.DefaultRollupConfig())
		l1, l2, l3 := b.lines[0], b.lines[1], b.lines[2]
		// History: a signup on L2 three days back.
		signup(t, b, l2, t0.Add(-3*24*time.Hour))
		r := run(t, b)
		require.True(t, r.Reset)
		require.Equal(t, t0.Truncate(time.Minute).Add(-3*time.Minute), r.AsOf.UTC())

		// Minute 10:00: three sends and two inbound on L1, a send on L2,
		// inbound on L3; signups on L1 just before 10:00 and after it (the
		// windows end at a minute start).
		to, first := send(t, b, l1)
		send(t, b, l1)
		send(t, b, l1)
		send(t, b, l2)
		inbound(t, b, l1, b.clock.Now())
		inbound(t, b, l1, b.clock.Now())
		inbound(t, b, l3, b.clock.Now())
		signup(t, b, l1, b.clock.Now().Add(-40*time.Second))
		signup(t, b, l1, b.clock.Now())

		// 10:01:40: minute 10:00 has closed, within the lag: not folded.
		b.clock.Set(t0.Add(70 * time.Second))
		r = run(t, b)
		require.Equal(t, t0.Truncate(time.Minute).Add(-2*time.Minute), r.AsOf.UTC())
		got := matches(t, b, "before 10:00 is folded")
		require.Zero(t, got[l1])
		// Linq refused the first send: its unit goes back to 10:00.
		require.NoError(t, b.lim.GiveBack(context.Background(), l1, to, first.At))

		// 10:03:30: 10:00 is folded, with the give-back.
		b.clock.Set(t0.Add(3 * time.Minute))
		r = run(t, b)
		require.Equal(t, t0.Truncate(time.Minute), r.AsOf.UTC())
		got = matches(t, b, "10:00 folded")
		require.Equal(t, use{In24: 2, Out24: 2, In7: 2, Out7: 2, Signups24: 1, Signups7: 1}, got[l1])
		require.Equal(t, use{Out24: 1, Out7: 1, Signups7: 1}, got[l2])
		require.Equal(t, use{In24: 1, In7: 1}, got[l3])
		// A second run in the same minute adds nothing twice.
		r = run(t, b)
		require.Zero(t, r.Folded)
		matches(t, b, "run twice")

		// Eight days in steps of an hour, with traffic on the way: 10:00
		// leaves the 24 h window, then the 7-day one, as does the signup
		// made three days before it. (The rebuild moves an hour a run too,
		// so it never catches up here: this is the fold.)
		for h := 1; h <= 8*24+1; h++ {
			b.clock.Set(t0.Add(3*time.Minute + time.Duration(h)*time.Hour))
			send(t, b, b.lines[h%3])
			inbound(t, b, b.lines[(h+1)%3], b.clock.Now())
			if h%5 == 0 {
				signup(t, b, b.lines[h%2], b.clock.Now())
			}
			r = run(t, b)
			require.Equal(t, b.clock.Now().Add(-3*time.Minute).Truncate(time.Minute), r.AsOf.UTC())
			require.False(t, r.Swapped)
			if h%12 == 0 || h == 24 || h == 25 || h == 4*24 || h == 7*24 || h == 7*24+1 {
				matches(t, b, fmt.Sprintf("hour %d", h))
			}
		}
		got = matches(t, b, "eight days on")
		require.Positive(t, got[l1].Out7)
	})

	t.Run("ARunMovesAtMostMaxStep", func(t *testing.T) {
		t.Parallel()
		b := setup(t, lines.DefaultRollupConfig())
		run(t, b)
		send(t, b, b.lines[0])
		b.clock.Set(t0.Add(3 * time.Hour))
		send(t, b, b.lines[1])
		r := run(t, b)
		require.Equal(t, time.Hour, r.AsOf.Sub(r.From))
		matches(t, b, "an hour behind")
		for range 2 {
			run(t, b)
		}
		r = run(t, b)
		require.Equal(t, b.clock.Now().Add(-3*time.Minute).Truncate(time.Minute), r.AsOf.UTC())
		got := matches(t, b, "caught up")
		require.Equal(t, int64(1), got[b.lines[0]].Out24)
	})

	// What changes after its minute is folded escapes the fold: an inbound
	// event processed late, a user moved to another home line. The rebuild
	// sums the week again and, caught up, replaces the live totals.
	t.Run("RebuildHealsWhatTheFoldMissed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, lines.DefaultRollupConfig())
		l1, l2, l3 := b.lines[0], b.lines[1], b.lines[2]
		// History on L3: within the week, and older than the week the
		// rebuild starts from (so it must neither add nor take it out).
		for _, ago := range []time.Duration{7*24*time.Hour + 30*time.Minute, 6 * 24 * time.Hour, 20 * time.Hour} {
			_, err := b.pool.Exec(context.Background(), `INSERT INTO line_volume (line_id, minute, inbound, outbound)
				VALUES ($1, $2, 2, 3)`, l3, t0.Add(-ago).Truncate(time.Minute))
			require.NoError(t, err)
			signup(t, b, l3, t0.Add(-ago))
		}
		run(t, b)
		send(t, b, l1)
		u := signup(t, b, l1, b.clock.Now())
		b.clock.Set(t0.Add(10 * time.Minute))
		r := run(t, b)
		require.False(t, r.RebuildAsOf.IsZero(), "a rebuild started")
		matches(t, b, "folded")

		inbound(t, b, l1, t0)
		_, err := b.pool.Exec(context.Background(), `UPDATE users SET home_line_id = $1, current_line_id = $1 WHERE id = $2`, l2, u)
		require.NoError(t, err)
		b.clock.Set(t0.Add(11 * time.Minute))
		run(t, b)
		got, asOf := plan(t, b)
		require.NotEqual(t, direct(t, b, asOf), got, "the fold alone cannot see the late changes")

		// A day of the week a run: the rebuild catches up within 8 runs.
		cfg := lines.DefaultRollupConfig()
		cfg.RebuildStep = 24 * time.Hour
		b.rollup = lines.NewRollup(b.pool, slog.New(slog.DiscardHandler), cfg)
		untilSwapped := func() lines.RollupRun {
			t.Helper()
			for range 8 {
				if r := run(t, b); r.Swapped {
					return r
				}
			}
			require.FailNow(t, "the rebuild does not catch up")
			return lines.RollupRun{}
		}
		r = untilSwapped()
		require.Equal(t, int64(2), r.Corrected) // L1's inbound and signup, L2's signup
		got = matches(t, b, "rebuilt")
		require.Equal(t, use{In24: 1, Out24: 1, In7: 1, Out7: 1}, got[l1])
		require.Equal(t, use{Signups24: 1, Signups7: 1}, got[l2])
		require.Equal(t, use{In24: 2, Out24: 3, In7: 4, Out7: 6, Signups24: 1, Signups7: 2}, got[l3])

		// The next rebuild agrees with the fold.
		r = untilSwapped()
		require.Zero(t, r.Corrected)
		matches(t, b, "rebuilt again")
	})

	// The job's totals give the messages; the user-days are counted over
	// the same window, which ends at the totals' as_of: a user created a
	// day before it counts one day, one created after it none.
	t.Run("UsageFigureCountsUserDaysToTheTotalsEnd", func(t *testing.T) {
		t.Parallel()
		b := setup(t, lines.DefaultRollupConfig())
		_, err := b.pool.Exec(context.Background(), `INSERT INTO line_volume (line_id, minute, inbound, outbound)
			VALUES ($1, $2, 3000, 4000), ($1, $3, 0, 0)`, b.lines[0],
			t0.Add(-3*24*time.Hour).Truncate(time.Minute), t0.Add(-8*24*time.Hour).Truncate(time.Minute))
		require.NoError(t, err)
		asOf := run(t, b).AsOf
		for range 10 {
			signup(t, b, b.lines[0], asOf.Add(-30*24*time.Hour))
			signup(t, b, b.lines[0], asOf.Add(-24*time.Hour))
		}
		signup(t, b, b.lines[0], asOf.Add(time.Minute))
		_, err = b.pool.Exec(context.Background(), `UPDATE lines SET user_count = CASE WHEN id = $1 THEN 21 ELSE 0 END`, b.lines[0])
		require.NoError(t, err)

		u, err := b.svc.MsgsPerUserPerDay(context.Background())
		require.NoError(t, err)
		require.Equal(t, "observed", u.Source)
		require.Equal(t, int64(7000), u.Messages, "the job's totals")
		require.InDelta(t, 80, u.UserDays, 1e-6) // 10 × 7 + 10 × 1 + 0
		require.InDelta(t, 87.5, u.PerUserPerDay, 1e-6)
	})

	// The usage figure reads the totals while the job keeps them, and sums
	// the minute rows once it has stopped: a row written behind the job's
	// back shows which was read.
	t.Run("UsageFigureReadsTheTotalsWhileTheJobRuns", func(t *testing.T) {
		t.Parallel()
		b := setup(t, lines.DefaultRollupConfig())
		run(t, b)
		send(t, b, b.lines[0])
		b.clock.Advance(5 * time.Minute)
		run(t, b)
		_, err := b.pool.Exec(context.Background(), `UPDATE line_volume SET outbound = outbound + 5 WHERE line_id = $1`, b.lines[0])
		require.NoError(t, err)
		u, err := b.svc.MsgsPerUserPerDay(context.Background())
		require.NoError(t, err)
		require.Equal(t, int64(1), u.Messages, "the job's totals")

		b.clock.Advance(10 * time.Minute) // past the job's freshness and the figure's cache
		u, err = b.svc.MsgsPerUserPerDay(context.Background())
		require.NoError(t, err)
		require.Equal(t, int64(6), u.Messages, "the minute rows")
	})
}
