package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/router"
)

type opsLine struct {
	ID              int64   `json:"id"`
	Number          string  `json:"number"`
	AdminState      string  `json:"admin_state"`
	Reputation      string  `json:"reputation"`
	Eligible        bool    `json:"eligible"`
	BlockedReason   string  `json:"blocked_reason"`
	Users           int     `json:"users"`
	Cap             int     `json:"cap"`
	Utilization     float64 `json:"utilization"`
	HeadroomLeft    int     `json:"headroom_left"`
	SignupsLastHour int     `json:"signups_last_hour"`
	Budget          struct {
		Override     *int    `json:"override"`
		WarmupFactor float64 `json:"warmup_factor"`
		Effective    int     `json:"effective"`
	} `json:"budget"`
}

type opsLines struct {
	Lines   []opsLine `json:"lines"`
	Summary struct {
		Lines          int `json:"lines"`
		Eligible       int `json:"eligible"`
		UsableLines    int `json:"usable_lines"`
		Users          int `json:"users"`
		UsersElsewhere int `json:"users_elsewhere"`
		Capacity       int `json:"capacity"`
		CapacityLeft   int `json:"capacity_left"`
	} `json:"summary"`
}

func TestOpsLines(t *testing.T) {
	t.Parallel()

	t.Run("ListShowsCapacityAndUse", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		at := b.addLine(t, "+15550100002")
		_, err := b.pool.Exec(context.Background(), `UPDATE lines SET reputation = 'AT_RISK' WHERE id = $1`, at)
		require.NoError(t, err)
		for i := range 3 {
			b.signup(t, map[string]any{"user_ref": fmt.Sprintf("u%d", i)})
		}
		rec := b.do(t, "GET", "/v1/ops/lines", b.opsKey, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[opsLines](t, rec)
		require.Len(t, got.Lines, 2)
		l := got.Lines[0]
		require.Equal(t, "+15550100001", l.Number)
		require.True(t, l.Eligible)
		require.Equal(t, 3, l.Users)
		require.Equal(t, 297, l.Cap) // 7000 × 0.85 ÷ 20
		require.Equal(t, 294, l.HeadroomLeft)
		require.InDelta(t, 3.0/297, l.Utilization, 1e-9)
		require.Equal(t, 3, l.SignupsLastHour)
		require.Equal(t, 7000, l.Budget.Effective)
		require.False(t, got.Lines[1].Eligible)
		require.Equal(t, "reputation_at_risk", got.Lines[1].BlockedReason)
		require.Equal(t, 2, got.Summary.Lines)
		require.Equal(t, 1, got.Summary.Eligible)
		require.Equal(t, 3, got.Summary.Users)
		require.Equal(t, 297, got.Summary.Capacity, "an at-risk line takes no users: its cap is not capacity")

		require.Equal(t, http.StatusForbidden, b.do(t, "GET", "/v1/ops/lines", b.signupKey, nil).Code)
	})

	// One definition of the usable lines: a down line's cap is not
	// capacity, here or in the capacity plan.
	t.Run("SummaryCountsTheUsableLinesTheCapacityPlanDoes", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		b.addFixtureLine(t, "+15550100001", 30, "health_state = 'down'")
		b.addFixtureLine(t, "+15550100002", 20, "")
		b.addFixtureLine(t, "+15550100003", 5, "reputation = 'AT_RISK'")
		b.addFixtureLine(t, "+15550100004", 4, "admin_state = 'draining'")
		auth := map[string]string{"Authorization": "Bearer " + b.opsKey}
		rec := b.request(t, "GET", "/v1/ops/lines", nil, "", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		sum := decodeJSON[opsLines](t, rec).Summary
		rec = b.request(t, "GET", "/v1/ops/capacity", nil, "", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		plan := decodeJSON[capacityAnswer](t, rec).Pool

		require.Equal(t, 297, sum.Capacity, "only the ok, active line")
		require.Equal(t, 277, sum.CapacityLeft)
		require.Equal(t, 1, sum.UsableLines)
		require.Equal(t, 20, sum.Users)
		require.Equal(t, 39, sum.UsersElsewhere)
		require.Equal(t, plan.Capacity, sum.Capacity)
		require.Equal(t, plan.Room, sum.CapacityLeft)
		require.Equal(t, plan.UsableLines, sum.UsableLines)
		require.Equal(t, plan.Users, sum.Users)
		require.Equal(t, plan.UsersElsewhere, sum.UsersElsewhere)
	})

	// An override is line_policy's base budget like the default: warm-up
	// scales it, so a fresh line's 3,000 is 600 (factor 0.2).
	t.Run("WarmUpScalesABudgetOverride", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		id := b.addFixtureLine(t, "+15550100001", 0, "warmup_started_at = '2026-03-02 10:00+00'")
		rec := b.request(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), map[string]any{"budget_override": 3000}, "",
			map[string]string{"Authorization": "Bearer " + b.opsKey})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[struct{ Line opsLine }](t, rec).Line
		require.Equal(t, 3000, *got.Budget.Override)
		require.InDelta(t, 0.2, got.Budget.WarmupFactor, 1e-9)
		require.Equal(t, 600, got.Budget.Effective)
		require.Equal(t, 25, got.Cap) // ⌊600 × 0.85 ÷ 20⌋
	})

	t.Run("PagesThePoolWithANextCursor", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		var ids []int64
		for i := range 5 {
			ids = append(ids, b.addLine(t, fmt.Sprintf("+1555010020%d", i)))
		}
		type page struct {
			opsLines
			Next *string `json:"next"`
		}
		var seen []int64
		path := "/v1/ops/lines?limit=2"
		for pages := 0; ; pages++ {
			require.Less(t, pages, 3, "more pages than lines")
			rec := b.do(t, "GET", path, b.opsKey, nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			got := decodeJSON[page](t, rec)
			require.Equal(t, 5, got.Summary.Lines, "the summary covers the whole pool")
			for _, l := range got.Lines {
				seen = append(seen, l.ID)
			}
			if got.Next == nil {
				require.Len(t, got.Lines, 1)
				break
			}
			require.Len(t, got.Lines, 2)
			path = "/v1/ops/lines?limit=2&after=" + *got.Next
		}
		require.Equal(t, ids, seen)
	})

	t.Run("PagesALinesUsers", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		l1 := b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		var want []string
		for i := range 10 {
			a := b.signup(t, map[string]any{"user_ref": fmt.Sprintf("u%d", i)})
			if a.Line.ID == l1 {
				want = append(want, a.UserRef)
			}
		}
		require.Len(t, want, 5)
		type page struct {
			LineID int64 `json:"line_id"`
			Users  []struct {
				UserRef    string `json:"user_ref"`
				HomeLineID int64  `json:"home_line_id"`
			} `json:"users"`
			Next string `json:"next"`
		}
		var got []string
		path := fmt.Sprintf("/v1/ops/lines/%d/users?limit=2", l1)
		for pages := 0; ; pages++ {
			require.Less(t, pages, 3)
			rec := b.do(t, "GET", path, b.opsKey, nil)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			p := decodeJSON[page](t, rec)
			require.Equal(t, l1, p.LineID)
			for _, u := range p.Users {
				require.Equal(t, l1, u.HomeLineID)
				got = append(got, u.UserRef)
			}
			if p.Next == "" {
				break
			}
			path = fmt.Sprintf("/v1/ops/lines/%d/users?limit=2&after=%s", l1, p.Next)
		}
		require.Equal(t, want, got, "every user once, in the order they came")

		tests := []struct {
			name, path string
			status     int
			code       string
		}{
			{"UnknownLine", "/v1/ops/lines/999999/users", http.StatusNotFound, "line_not_found"},
			{"BadLimit", fmt.Sprintf("/v1/ops/lines/%d/users?limit=0", l1), http.StatusUnprocessableEntity, "invalid_field"},
			{"BadCursor", fmt.Sprintf("/v1/ops/lines/%d/users?after=x", l1), http.StatusUnprocessableEntity, "invalid_field"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := b.do(t, "GET", tt.path, b.opsKey, nil)
				require.Equal(t, tt.status, rec.Code, rec.Body.String())
				require.Equal(t, tt.code, decodeJSON[errorAnswer](t, rec).Error.Code)
			})
		}
	})

	t.Run("RefusesABadPage", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=-1", "after=x"} {
			rec := b.do(t, "GET", "/v1/ops/lines?"+q, b.opsKey, nil)
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "%s: %s", q, rec.Body.String())
		}
	})

	t.Run("PatchDrainsAndSetsBudget", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		id := b.addLine(t, "+15550100001")
		rec := b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), b.opsKey, map[string]any{"admin_state": "draining", "budget_override": 3500})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decodeJSON[struct{ Line opsLine }](t, rec).Line
		require.Equal(t, "draining", got.AdminState)
		require.Equal(t, "draining", got.BlockedReason)
		require.Equal(t, 3500, *got.Budget.Override)
		require.Equal(t, 148, got.Cap)

		rec = b.do(t, "POST", "/v1/signups", b.signupKey, map[string]any{"user_ref": "u1"})
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)

		rec = b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), b.opsKey, map[string]any{"admin_state": "active", "budget_override": nil})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got = decodeJSON[struct{ Line opsLine }](t, rec).Line
		require.Nil(t, got.Budget.Override)
		require.Equal(t, 297, got.Cap)
		b.signup(t, map[string]any{"user_ref": "u1"})
	})

	t.Run("PatchRejectsBadInput", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		id := b.addLine(t, "+15550100001")
		tests := []struct {
			name   string
			path   string
			body   map[string]any
			status int
		}{
			{"UnknownState", fmt.Sprintf("/v1/ops/lines/%d", id), map[string]any{"admin_state": "paused"}, http.StatusUnprocessableEntity},
			{"NegativeBudget", fmt.Sprintf("/v1/ops/lines/%d", id), map[string]any{"budget_override": -1}, http.StatusUnprocessableEntity},
			{"TextBudget", fmt.Sprintf("/v1/ops/lines/%d", id), map[string]any{"budget_override": "lots"}, http.StatusUnprocessableEntity},
			{"Empty", fmt.Sprintf("/v1/ops/lines/%d", id), map[string]any{}, http.StatusBadRequest},
			{"UnknownLine", "/v1/ops/lines/999999", map[string]any{"admin_state": "draining"}, http.StatusNotFound},
			{"NotAnID", "/v1/ops/lines/abc", map[string]any{"admin_state": "draining"}, http.StatusNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := b.do(t, "PATCH", tt.path, b.opsKey, tt.body)
				require.Equal(t, tt.status, rec.Code, rec.Body.String())
			})
		}
	})

	t.Run("RetireMovesUsersToTheirBackups", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		for i := range 4 {
			b.addLine(t, fmt.Sprintf("+1555010000%d", i))
		}
		var onRetired []signupAnswer
		var retired int64
		for i := range 12 {
			a := b.signup(t, map[string]any{"user_ref": fmt.Sprintf("u%d", i)})
			if i == 0 {
				retired = a.Line.ID
			}
			if a.Line.ID == retired {
				onRetired = append(onRetired, a)
			}
		}
		require.Len(t, onRetired, 3)
		rec := b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", retired), b.opsKey, map[string]any{"admin_state": "retired"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		res := decodeJSON[struct {
			Line  opsLine
			Moved router.MoveResult
		}](t, rec)
		require.Equal(t, 3, res.Moved.Moved)
		require.Zero(t, res.Line.Users)
		for _, a := range onRetired {
			u := decodeJSON[router.User](t, b.do(t, "GET", "/v1/users/"+a.UserRef, b.signupKey, nil))
			require.Equal(t, a.Backups[0], u.CurrentLine)
			require.Equal(t, a.Backups[0], u.HomeLine)
			require.Len(t, u.Ledger, 2)
			require.Equal(t, "retire", u.Ledger[1].Reason)
			require.Equal(t, retired, *u.Ledger[1].FromLineID)
			require.Equal(t, a.Backups[0].ID, u.Ledger[1].ToLineID)
		}
	})

	t.Run("RetireThatWouldStrandUsersIsRefusedAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		id := b.addLine(t, "+15550100001")
		for i := range 2 {
			b.signup(t, map[string]any{"user_ref": fmt.Sprintf("u%d", i)})
		}
		// No other line can take them: a retired line sends nothing and
		// no sweep moves users off a line whose health is ok.
		rec := b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), b.opsKey, map[string]any{"budget_override": 1234, "admin_state": "retired"})
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		e := decodeJSON[errorAnswer](t, rec)
		require.Equal(t, "line_users_stranded", e.Error.Code)

		var override *int
		var state string
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT budget_override, admin_state FROM lines WHERE id = $1`, id).Scan(&override, &state))
		require.Equal(t, "active", state)
		require.Nil(t, override)
		u := decodeJSON[router.User](t, b.do(t, "GET", "/v1/users/u0", b.signupKey, nil))
		require.Len(t, u.Ledger, 1, "no move was written")

		b.addLine(t, "+15550100002")
		rec = b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), b.opsKey, map[string]any{"admin_state": "retired"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		res := decodeJSON[struct{ Moved router.MoveResult }](t, rec)
		require.Equal(t, 2, res.Moved.Moved)
		require.Zero(t, res.Moved.Stranded)
	})

	t.Run("PatchIsOneTransaction", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		id := b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		b.signup(t, map[string]any{"user_ref": "u1"})
		// The retirement's second half (moving the line's users, which
		// writes their ledger) fails after the budget change was applied.
		_, err := b.pool.Exec(context.Background(), `
			CREATE FUNCTION refuse_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'ledger refused'; END $$;
			CREATE TRIGGER refuse_ledger BEFORE INSERT ON line_ledger FOR EACH ROW EXECUTE FUNCTION refuse_ledger();`)
		require.NoError(t, err)

		rec := b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), b.opsKey, map[string]any{"budget_override": 1234, "admin_state": "retired"})
		require.Equal(t, http.StatusInternalServerError, rec.Code, rec.Body.String())

		var override *int
		var state string
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT budget_override, admin_state FROM lines WHERE id = $1`, id).Scan(&override, &state))
		require.Nil(t, override, "the budget change must roll back with the failed retirement")
		require.Equal(t, "active", state)
		var onLine int
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE current_line_id = $1`, id).Scan(&onLine))
		require.Equal(t, 1, onLine)
	})

	t.Run("PatchRetiresAndSetsBudgetTogether", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		id := b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		b.signup(t, map[string]any{"user_ref": "u1"})
		rec := b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", id), b.opsKey, map[string]any{"budget_override": 1234, "admin_state": "retired"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		res := decodeJSON[struct {
			Line  opsLine
			Moved router.MoveResult
		}](t, rec)
		require.Equal(t, "retired", res.Line.AdminState)
		require.Equal(t, 1234, *res.Line.Budget.Override)
		require.Equal(t, 1, res.Moved.Moved)
		require.Zero(t, res.Line.Users)
	})

	t.Run("RotationPredictsTheNextSignups", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t, func(o *poolOptions) { o.rampPerHour = 3 })
		for i := range 5 {
			id := b.addLine(t, fmt.Sprintf("+1555010000%d", i))
			_, err := b.pool.Exec(context.Background(), `UPDATE lines SET budget_override = $1 WHERE id = $2`, 1000+500*i, id)
			require.NoError(t, err)
		}
		for i := range 4 {
			b.signup(t, map[string]any{"user_ref": fmt.Sprintf("old%d", i)})
		}
		rec := b.do(t, "GET", "/v1/ops/rotation?n=10", b.opsKey, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		rot := decodeJSON[router.Rotation](t, rec)
		require.Len(t, rot.Picks, 10)
		for i, p := range rot.Picks {
			a := b.signup(t, map[string]any{"user_ref": fmt.Sprintf("new%d", i)})
			require.Equal(t, p.Line, a.Line, "signup %d", i+1)
			require.Equal(t, p.Reason, a.Reason, "signup %d", i+1)
		}
		for _, n := range []string{"0", "1001", "ten"} {
			rec := b.do(t, "GET", "/v1/ops/rotation?n="+n, b.opsKey, nil)
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
			require.Equal(t, "n", decodeJSON[errorAnswer](t, rec).Error.Field)
		}
	})
}
