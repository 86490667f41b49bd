package lines_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

var epoch = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestUserCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		effective         int
		headroom, perUser float64
		want              int
	}{
		{"Defaults", 7000, 0.15, 20, 297}, // 7000 × 0.85 ÷ 20 = 297.5
		{"ExactQuotientIsNotFlooredBelow", 4000, 0.15, 20, 170},
		{"NoHeadroom", 7000, 0, 20, 350},
		{"MaxHeadroom", 7000, 0.5, 20, 175},
		{"WarmupStart", 1400, 0.15, 20, 59}, // 1400 × 0.85 ÷ 20 = 59.5
		{"BusyUsers", 7000, 0.15, 500, 11},
		{"TooBusyForOne", 100, 0.15, 500, 0},
		{"NoUsageFigure", 7000, 0.15, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, lines.UserCap(tt.effective, tt.headroom, tt.perUser))
		})
	}
}

func TestService(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		pool  *pgxpool.Pool
		svc   *lines.Service
		sim   *linqsim.Sim
		clock *pgtest.Clock // the database's; the service's Go clock follows it
	}
	setup := func(t *testing.T, mod func(c *lines.Config)) *testBundle {
		t.Helper()
		pool := pgtest.NewPool(t)
		sim := linqsim.New(linqsim.Config{Logger: slog.New(slog.DiscardHandler)})
		t.Cleanup(sim.Close)
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		client, err := linq.New(linq.Config{BaseURL: srv.URL, APIKey: "k", Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		b := &testBundle{pool: pool, sim: sim, clock: pgtest.NewClock(t, pool, epoch)}
		cfg := lines.DefaultConfig()
		if mod != nil {
			mod(&cfg)
		}
		cfg.Now = b.clock.Now
		b.svc = lines.New(pool, client, slog.New(slog.DiscardHandler), cfg)
		return b
	}
	byNumber := func(t *testing.T, ls []lines.Line) map[string]lines.Line {
		t.Helper()
		out := map[string]lines.Line{}
		for _, l := range ls {
			out[l.Number] = l
		}
		return out
	}

	// A Linq that refuses connections is Linq's failure: the answer must
	// not say the database is down (a refused connection is a net.Error,
	// which the HTTP layer reads as Postgres out of reach unless told).
	t.Run("SyncWithLinqDownIsAnUpstreamError", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close()) // nothing listens there now
		client, err := linq.New(linq.Config{BaseURL: "http://" + addr, APIKey: "k", Logger: slog.New(slog.DiscardHandler),
			MaxRetries: -1})
		require.NoError(t, err)
		svc := lines.New(b.pool, client, slog.New(slog.DiscardHandler), lines.DefaultConfig())
		_, err = svc.Sync(context.Background())
		require.True(t, apperr.IsCode(err, "upstream_unavailable"), "%v", err)
		var n int
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM lines`).Scan(&n))
		require.Zero(t, n)
	})

	t.Run("SyncAddsRefreshesAndMarksMissing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.sim.AddLine("+15550100001")
		b.sim.AddLine("+15550100002")
		res, err := b.svc.Sync(context.Background())
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"+15550100001", "+15550100002"}, res.Added)
		// Empty lists are [] on the wire, never null.
		raw, err := json.Marshal(res)
		require.NoError(t, err)
		require.Contains(t, string(raw), `"missing":[]`)
		require.Contains(t, string(raw), `"skipped":[]`)

		// A line Linq no longer lists.
		_, err = b.pool.Exec(context.Background(), `INSERT INTO lines (number) VALUES ('+15550100099')`)
		require.NoError(t, err)
		require.NoError(t, b.sim.SetReputation("+15550100002", "AT_RISK"))
		b.sim.AddLine("+15550100003")
		b.clock.Advance(time.Hour)
		res, err = b.svc.Sync(context.Background())
		require.NoError(t, err)
		require.Equal(t, []string{"+15550100003"}, res.Added)
		require.Equal(t, []string{"+15550100099"}, res.Missing)
		ls, _, err := b.svc.List(context.Background())
		require.NoError(t, err)
		got := byNumber(t, ls)
		require.Len(t, got, 4)
		require.Equal(t, lines.BlockMissing, got["+15550100099"].BlockReason())
		require.Equal(t, lines.ReputationAtRisk, got["+15550100002"].Reputation)
		require.Equal(t, lines.BlockAtRisk, got["+15550100002"].BlockReason())
		require.NotEmpty(t, got["+15550100001"].LinqID)
		// A new line starts its warm-up when first seen.
		require.Equal(t, epoch, got["+15550100001"].WarmupStartedAt.UTC())
		require.Equal(t, epoch.Add(time.Hour), got["+15550100003"].WarmupStartedAt.UTC())
		require.InDelta(t, 0.2, got["+15550100003"].WarmupFactor, 1e-9)
		require.Equal(t, 1400, got["+15550100003"].EffectiveBudget)
		require.Equal(t, 59, got["+15550100003"].Cap)
		require.Nil(t, got["+15550100001"].MissingAt)
	})

	// The listing's signals are ordered per signal, as the health poll
	// orders them: one that a webhook saw later than Linq was asked for
	// the listing stays, and the listing stamps those it sets.
	t.Run("SyncKeepsSignalsSeenAfterItsListing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.sim.AddLine("+15550100001")
		b.sim.AddLine("+15550100002")
		_, err := b.svc.Sync(context.Background())
		require.NoError(t, err)
		require.NoError(t, b.sim.SetReputation("+15550100001", "AT_RISK"))
		require.NoError(t, b.sim.SetReputation("+15550100002", "AT_RISK"))
		// A webhook seen a minute after the next sync asks for the
		// listing says line 1 is healthy; line 2 was seen before it.
		b.clock.Advance(time.Hour)
		later := b.clock.Now().Add(time.Minute)
		_, err = b.pool.Exec(context.Background(), `UPDATE lines SET reputation = 'HEALTHY',
			reputation_input_at = $1 WHERE number = '+15550100001'`, later)
		require.NoError(t, err)
		_, err = b.svc.Sync(context.Background())
		require.NoError(t, err)
		ls, _, err := b.svc.List(context.Background())
		require.NoError(t, err)
		got := byNumber(t, ls)
		require.Equal(t, lines.ReputationHealthy, got["+15550100001"].Reputation, "a newer input stays")
		require.Equal(t, lines.ReputationAtRisk, got["+15550100002"].Reputation)
		var repAt, listAt time.Time
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT reputation_input_at, listing_input_at
			FROM lines WHERE number = '+15550100002'`).Scan(&repAt, &listAt))
		require.Equal(t, b.clock.Now(), repAt.UTC())
		require.Equal(t, b.clock.Now(), listAt.UTC())
	})

	t.Run("MsgsPerUserPerDayUsesConfigUntilEnoughTraffic", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *lines.Config) { c.UsageCacheTTL = time.Second })
		b.sim.AddLine("+15550100001")
		_, err := b.svc.Sync(context.Background())
		require.NoError(t, err)
		exec := func(sql string, args ...any) {
			t.Helper()
			_, err := b.pool.Exec(context.Background(), sql, args...)
			require.NoError(t, err)
		}
		read := func() lines.Usage {
			t.Helper()
			b.clock.Advance(2 * time.Second) // past the cache
			u, err := b.svc.MsgsPerUserPerDay(context.Background())
			require.NoError(t, err)
			return u
		}
		exec(`UPDATE lines SET user_count = 10`)

		u := read()
		require.Equal(t, lines.Usage{PerUserPerDay: 20, Source: "config", Users: 10, UserDays: 70}, u)

		// Plenty of traffic, but only three days of it: not yet.
		exec(`INSERT INTO line_volume (line_id, minute, inbound, outbound)
			SELECT id, $1::timestamptz, 3000, 4000 FROM lines`, b.clock.Now().Add(-3*24*time.Hour).Truncate(time.Minute))
		u = read()
		require.Equal(t, "config", u.Source)
		require.Equal(t, int64(7000), u.Messages)

		// Records reach back over the whole week: observed average,
		// 7,000 messages ÷ 10 users ÷ 7 days = 100.
		exec(`INSERT INTO line_volume (line_id, minute, inbound, outbound)
			SELECT id, $1::timestamptz, 1, 0 FROM lines`, b.clock.Now().Add(-8*24*time.Hour).Truncate(time.Minute))
		u = read()
		require.Equal(t, "observed", u.Source)
		require.InDelta(t, 100, u.PerUserPerDay, 1e-9)

		// Capacity follows: 7000 × 0.85 ÷ 100 = 59.5 → 59 (warm-up over).
		exec(`UPDATE lines SET warmup_started_at = '2020-01-01'`)
		ls, _, err := b.svc.List(context.Background())
		require.NoError(t, err)
		require.Equal(t, 59, ls[0].Cap)

		// A quiet week (under 1,000 messages) falls back to config.
		exec(`UPDATE line_volume SET inbound = 100, outbound = 100 WHERE inbound = 3000`)
		u = read()
		require.Equal(t, "config", u.Source)
	})

	// A user counts for the days of the window they existed: doubling the
	// pool a day ago adds a tenth to the user-days, not a whole week each,
	// so the figure does not halve (nor the caps double) while the new
	// users have yet to show their traffic.
	t.Run("MsgsPerUserPerDayCountsNewUsersOnlySinceTheirSignup", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.sim.AddLine("+15550100001")
		_, err := b.svc.Sync(context.Background())
		require.NoError(t, err)
		exec := func(sql string, args ...any) {
			t.Helper()
			_, err := b.pool.Exec(context.Background(), sql, args...)
			require.NoError(t, err)
		}
		now := b.clock.Now()
		signups := func(n int, at time.Time) {
			t.Helper()
			exec(`INSERT INTO users (user_ref, code, home_line_id, current_line_id, created_at)
				SELECT 'u-' || $2::text || '-' || g, 'c-' || $2::text || '-' || g, l.id, l.id, $1
				FROM lines l, generate_series(1, $3::int) g`, at, at.Format(time.RFC3339), n)
		}
		signups(10, now.Add(-30*24*time.Hour))
		signups(10, now.Add(-24*time.Hour))
		exec(`UPDATE lines SET user_count = 20, warmup_started_at = '2020-01-01'`)
		// 7,000 messages in the week, and records reaching back past it.
		exec(`INSERT INTO line_volume (line_id, minute, inbound, outbound)
			SELECT id, $1::timestamptz, 3000, 4000 FROM lines`, now.Add(-3*24*time.Hour).Truncate(time.Minute))
		exec(`INSERT INTO line_volume (line_id, minute, inbound, outbound)
			SELECT id, $1::timestamptz, 0, 0 FROM lines`, now.Add(-8*24*time.Hour).Truncate(time.Minute))

		u, err := b.svc.MsgsPerUserPerDay(context.Background())
		require.NoError(t, err)
		require.Equal(t, "observed", u.Source)
		// 10 users × 7 days + 10 users × 1 day = 80 user-days;
		// 7,000 ÷ 80 = 87.5 (not 7,000 ÷ 20 ÷ 7 = 50).
		require.InDelta(t, 80, u.UserDays, 1e-6)
		require.InDelta(t, 87.5, u.PerUserPerDay, 1e-6)

		// 7000 × 0.85 ÷ 87.5 = 68 (not 119).
		ls, _, err := b.svc.List(context.Background())
		require.NoError(t, err)
		require.Equal(t, 68, ls[0].Cap)
	})

	// The pool reads line_policy, the rule admission applies: health state
	// and holds decide signups and sends, with the reason.
	t.Run("PolicyReadsHealthState", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.sim.AddLine("+15550100001")
		_, err := b.svc.Sync(context.Background())
		require.NoError(t, err)
		for _, tc := range []struct {
			state, held     string
			serving, signup bool
			block, sendWhy  string
		}{
			{state: "ok", serving: true, signup: true},
			{state: "at_risk", serving: true, block: "line_at_risk", sendWhy: "line_paced"},
			{state: "critical", block: "line_critical", sendWhy: "line_paused"},
			{state: "down", block: "line_down", sendWhy: "line_down"},
			{state: "missing", block: "line_missing", sendWhy: "line_missing"},
			{state: "ok", held: "now", serving: true, block: "line_held"},
		} {
			_, err := b.pool.Exec(context.Background(), `UPDATE lines SET health_state = $1,
				held_at = CASE WHEN $2 = '' THEN NULL ELSE now() END`, tc.state, tc.held)
			require.NoError(t, err)
			ls, _, err := b.svc.List(context.Background())
			require.NoError(t, err)
			l := ls[0]
			require.Equal(t, tc.serving, l.Serving(), "%+v", tc)
			require.Equal(t, tc.signup, l.Healthy(), "%+v", tc)
			require.Equal(t, tc.sendWhy, l.SendWhy, "%+v", tc)
			if tc.block != "" {
				require.Equal(t, tc.block, l.BlockReason(), "%+v", tc)
			}
		}
	})

	t.Run("UpdateValidatesAndClearsOverride", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		b.sim.AddLine("+15550100001")
		_, err := b.svc.Sync(context.Background())
		require.NoError(t, err)
		ls, _, err := b.svc.List(context.Background())
		require.NoError(t, err)
		id := ls[0].ID

		bad := "paused"
		_, err = b.svc.Update(context.Background(), id, lines.Update{AdminState: &bad})
		require.ErrorContains(t, err, "admin_state")
		zero := 0
		_, err = b.svc.Update(context.Background(), id, lines.Update{SetBudget: true, BudgetOverride: &zero})
		require.ErrorContains(t, err, "budget_override")

		budget, draining := 3000, lines.AdminDraining
		l, err := b.svc.Update(context.Background(), id, lines.Update{AdminState: &draining, SetBudget: true, BudgetOverride: &budget})
		require.NoError(t, err)
		require.Equal(t, lines.AdminDraining, l.AdminState)
		require.Equal(t, 3000, l.Budget)
		require.Equal(t, lines.BlockDraining, l.BlockReason())

		l, err = b.svc.Update(context.Background(), id, lines.Update{SetBudget: true})
		require.NoError(t, err)
		require.Nil(t, l.BudgetOverride)
		require.Equal(t, 7000, l.Budget)
		require.Equal(t, lines.AdminDraining, l.AdminState)

		_, err = b.svc.Update(context.Background(), 424242, lines.Update{AdminState: &draining})
		require.ErrorContains(t, err, "line_not_found")
	})
}
