package app_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/linqsim"
)

// healthEnv is a hook environment with more lines and a product endpoint
// subscribed to the line events.
type healthEnv struct {
	*hookEnv
	gws  []*gw
	prod *product
}

// newHealthEnv starts n gateways on one database and simulator, with
// caps of 850 users per line (budget 20,000, no warm-up) and four lines.
func newHealthEnv(t *testing.T, n int, mutate ...func(*config.Config)) *healthEnv {
	t.Helper()
	e := &healthEnv{hookEnv: newHookEnv(t), prod: newProduct(t)}
	e.sim.AddLine("")
	e.sim.AddLine("")
	e.lines = e.lines[:0]
	for _, l := range e.sim.Lines() {
		e.lines = append(e.lines, l.PhoneNumber)
	}
	cfgs := append([]func(*config.Config){func(c *config.Config) {
		c.LineDailyBudget, c.WarmupDays = 20_000, 0
	}}, mutate...)
	for range n {
		e.gws = append(e.gws, e.gateway(t, true, cfgs...))
	}
	st, out := e.gws[0].call(t, "POST", "/v1/ops/event-subscriptions", map[string]any{
		"url": e.prod.srv.URL, "event_types": []string{"user.line_changed", "line.status_changed"},
	})
	require.Equal(t, http.StatusCreated, st, "%v", out)
	e.prod.secret = out["secret"].(string)
	return e
}

// lineID reads the id of a line by number.
func (e *healthEnv) lineID(t *testing.T, number string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, e.gws[0].app.Pool().QueryRow(context.Background(), `SELECT id FROM lines WHERE number = $1`, number).Scan(&id))
	return id
}

// seedUsers puts n users on home with set as their line set.
func (e *healthEnv) seedUsers(t *testing.T, prefix string, n int, set ...int64) {
	t.Helper()
	pool := e.gws[0].app.Pool()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO users (user_ref, code, home_line_id, current_line_id)
		SELECT $1 || '-' || g, $1 || '-code-' || g, $2, $2 FROM generate_series(1, $3::int) g`, prefix, set[0], n)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO user_lines (user_id, position, line_id)
		SELECT u.id, s.pos - 1, s.line_id FROM users u CROSS JOIN unnest($2::bigint[]) WITH ORDINALITY AS s (line_id, pos)
		WHERE u.user_ref LIKE $1 || '-%'`, prefix, set)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE lines SET user_count = (SELECT count(*) FROM users u WHERE u.current_line_id = lines.id)`)
	require.NoError(t, err)
}

func (e *healthEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, e.gws[0].app.Pool().QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// lineState is a line's health state as GET /v1/ops/health shows it.
func (e *healthEnv) lineState(t *testing.T, number string) map[string]any {
	t.Helper()
	st, out := e.gws[0].call(t, "GET", "/v1/ops/health", nil)
	require.Equal(t, http.StatusOK, st, "%v", out)
	for _, l := range out["lines"].([]any) {
		if m := l.(map[string]any); m["number"] == number {
			return m
		}
	}
	t.Fatalf("line %s not in /v1/ops/health", number)
	return nil
}

func TestLineHealthEndToEnd(t *testing.T) {
	t.Parallel()

	t.Run("FlaggedLineFailsOverOnceAcrossTwoInstances", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 2)
		down, b1, b2, spare := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1]), e.lineID(t, e.lines[2]), e.lineID(t, e.lines[3])
		e.seedUsers(t, "a", 1000, down, b1, b2)
		e.seedUsers(t, "b", 1000, down, b2, spare)

		// Both gateways subscribed themselves at Linq: each receives the
		// status_updated event and processes it.
		require.NoError(t, e.sim.FlagLine(e.lines[0]))
		waitForWithin(t, 90*time.Second, func() bool { return len(e.prod.events("user.line_changed")) >= 2000 }, "2,000 user.line_changed")
		waitFor(t, func() bool { return len(e.prod.events("line.status_changed")) >= 1 }, "line.status_changed")

		require.Zero(t, e.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, down))
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM failovers WHERE line_id = $1`, down))
		require.Zero(t, e.count(t, `SELECT count(*) FROM users u JOIN lines l ON l.id = u.current_line_id WHERE l.health_state <> 'ok'`))
		st, out := e.gws[1].call(t, "GET", "/v1/ops/lines", nil)
		require.Equal(t, http.StatusOK, st)
		for _, l := range out["lines"].([]any) {
			m := l.(map[string]any)
			if m["number"] != e.lines[0] {
				require.LessOrEqual(t, m["users"].(float64), m["cap"].(float64), "line %v over its cap", m["number"])
			}
		}
		// One event per user, and one transition, though both instances
		// processed the event.
		seen := map[string]int{}
		for _, ev := range e.prod.events("user.line_changed") {
			seen[ev.Data["user_ref"].(string)]++
			require.Equal(t, "failover", ev.Data["reason"])
		}
		require.Len(t, seen, 2000)
		for ref, n := range seen {
			require.Equal(t, 1, n, "user %s", ref)
		}
		require.Len(t, e.prod.events("line.status_changed"), 1)
		require.Equal(t, "down", e.prod.events("line.status_changed")[0].Data["to"])

		st, out = e.gws[0].call(t, "GET", "/v1/ops/failovers", nil)
		require.Equal(t, http.StatusOK, st)
		fs := out["failovers"].([]any)
		require.Len(t, fs, 1)
		require.Equal(t, float64(2000), fs[0].(map[string]any)["users_moved"])
	})

	t.Run("PollCatchesADroppedFlagAndCriticalAndAtRiskTakesNoSignups", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1, func(c *config.Config) { c.HealthPollSpec = "@every 1s" })
		flagged, critical, atRisk, backup := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1]), e.lineID(t, e.lines[2]), e.lineID(t, e.lines[3])
		e.seedUsers(t, "a", 50, flagged, backup)
		e.seedUsers(t, "b", 50, critical, backup)
		e.sim.SetFaults(linqsim.Faults{DropWebhooks: 1})
		require.NoError(t, e.sim.FlagLine(e.lines[0]))
		require.NoError(t, e.sim.SetReputation(e.lines[1], "CRITICAL"))
		require.NoError(t, e.sim.SetReputation(e.lines[2], "AT_RISK"))

		waitFor(t, func() bool {
			return e.lineState(t, e.lines[0])["state"] == "down" && e.lineState(t, e.lines[1])["state"] == "critical" &&
				e.lineState(t, e.lines[2])["state"] == "at_risk"
		}, "the poll sees every change")
		require.Equal(t, "poll: service status FLAGGED", e.lineState(t, e.lines[0])["cause"])
		require.Zero(t, e.count(t, `SELECT count(*) FROM users WHERE current_line_id IN ($1, $2)`, flagged, critical))
		require.Equal(t, 100, e.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))

		// New users go to the one ok line only.
		for i := range 5 {
			_, line := e.gws[0].signup(t, "new-"+string(rune('a'+i)))
			require.Equal(t, e.lines[3], line)
		}
		require.Zero(t, e.count(t, `SELECT count(*) FROM users WHERE home_line_id = $1`, atRisk))
	})

	t.Run("OpsFailoverAndRecover", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1, func(c *config.Config) { c.RecoveryDwell = time.Hour })
		line, backup := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1])
		e.seedUsers(t, "a", 30, line, backup)
		st, out := e.gws[0].call(t, "POST", "/v1/ops/lines/"+itoa(line)+"/failover", nil)
		require.Equal(t, http.StatusOK, st, "%v", out)
		require.Equal(t, float64(30), out["moved"])
		require.Equal(t, 30, e.count(t, `SELECT count(*) FROM line_ledger WHERE reason = 'ops'`))

		st, out = e.gws[0].call(t, "POST", "/v1/ops/lines/"+itoa(line)+"/recover", nil)
		require.Equal(t, http.StatusOK, st, "%v", out)
		st, _ = e.gws[0].call(t, "POST", "/v1/ops/lines/999999/recover", nil)
		require.Equal(t, http.StatusNotFound, st)

		st, out = e.gws[0].call(t, "GET", "/v1/ops/health", nil)
		require.Equal(t, http.StatusOK, st)
		require.Contains(t, out, "single_failure")
		require.Zero(t, out["stranded_users"])
	})

	t.Run("RetiredLineTellsProductServicesOfEveryUserItMoved", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1)
		retired, b1, b2 := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1]), e.lineID(t, e.lines[2])
		e.seedUsers(t, "on", 30, retired, b1, b2)
		// Users who only had the line among their backups keep their line:
		// no event for them.
		e.seedUsers(t, "backup", 10, b2, retired, b1)

		st, out := e.gws[0].call(t, "PATCH", "/v1/ops/lines/"+itoa(retired), map[string]any{"admin_state": "retired"})
		require.Equal(t, http.StatusOK, st, "%v", out)
		require.Equal(t, float64(30), out["moved"].(map[string]any)["moved"])
		require.Equal(t, 30, e.count(t, `SELECT count(*) FROM event_deliveries WHERE event_type = 'user.line_changed'`))

		waitFor(t, func() bool { return len(e.prod.events("user.line_changed")) >= 30 }, "30 user.line_changed")
		seen := map[string]bool{}
		for _, ev := range e.prod.events("user.line_changed") {
			ref := ev.Data["user_ref"].(string)
			require.Regexp(t, `^on-`, ref)
			require.Equal(t, "retire", ev.Data["reason"])
			require.Equal(t, float64(retired), ev.Data["from_line_id"])
			require.Equal(t, float64(b1), ev.Data["to_line_id"])
			seen[ref] = true
		}
		require.Len(t, seen, 30)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
