package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/router"
)

func TestUsers(t *testing.T) {
	t.Parallel()

	t.Run("GetShowsLineSetCurrentLineAndLedger", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		l1 := b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		b.addLine(t, "+15550100003")
		a := b.signup(t, map[string]any{"user_ref": "u@1", "handle": "ann@example.com", "display_name": "Ann"})

		rec := b.do(t, "GET", "/v1/users/u@1", b.signupKey, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		u := decodeJSON[router.User](t, rec)
		require.Equal(t, "u@1", u.UserRef)
		require.Equal(t, "ann@example.com", *u.Handle)
		require.Equal(t, "Ann", *u.DisplayName)
		require.Equal(t, a.Code, u.Code)
		require.Equal(t, router.LineRef{ID: l1, Number: "+15550100001"}, u.HomeLine)
		require.Equal(t, u.HomeLine, u.CurrentLine)
		require.False(t, u.OptedOut)
		require.Len(t, u.LineSet, 3)
		require.Equal(t, a.Line.ID, u.LineSet[0].ID)
		require.Equal(t, a.Backups[0].ID, u.LineSet[1].ID)
		require.Equal(t, a.Backups[1].ID, u.LineSet[2].ID)
		require.Len(t, u.Ledger, 1)
		require.Equal(t, "signup", u.Ledger[0].Reason)
		require.Equal(t, l1, u.Ledger[0].ToLineID)
		require.Equal(t, []int64{u.LineSet[0].ID, u.LineSet[1].ID, u.LineSet[2].ID}, u.Ledger[0].LineSet)
		require.Equal(t, b.clock.Now(), u.Ledger[0].At.UTC())
	})

	t.Run("ReassignMovesTheUserForGoodWithALedgerRow", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		l1 := b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		b.addLine(t, "+15550100003")
		l4 := b.addLine(t, "+15550100004")
		a := b.signup(t, map[string]any{"user_ref": "u1"})
		require.Equal(t, l1, a.Line.ID)
		require.NotContains(t, []int64{a.Backups[0].ID, a.Backups[1].ID}, l4)

		rec := b.do(t, "POST", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{"line_id": l4})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		u := decodeJSON[router.User](t, rec)
		require.Equal(t, l4, u.HomeLine.ID)
		require.Equal(t, l4, u.CurrentLine.ID)
		// The new line leads the set, the old home stays as a backup, and the
		// set keeps its size.
		require.Len(t, u.LineSet, 3)
		require.Equal(t, []int64{l4, l1, a.Backups[0].ID}, []int64{u.LineSet[0].ID, u.LineSet[1].ID, u.LineSet[2].ID})
		require.Len(t, u.Ledger, 2)
		require.Equal(t, "ops", u.Ledger[1].Reason)
		require.Equal(t, l1, *u.Ledger[1].FromLineID)
		require.Equal(t, l4, u.Ledger[1].ToLineID)
		var on1, on4 int
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT (SELECT user_count FROM lines WHERE id = $1), (SELECT user_count FROM lines WHERE id = $2)`, l1, l4).Scan(&on1, &on4))
		require.Equal(t, []int{0, 1}, []int{on1, on4})

		// Again: nothing to do, no second ledger row.
		rec = b.do(t, "POST", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{"line_id": l4})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Len(t, decodeJSON[router.User](t, rec).Ledger, 2)
	})

	t.Run("OpsReadTheSameUserUnderOps", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.signup(t, map[string]any{"user_ref": "u1"})
		want := b.do(t, "GET", "/v1/users/u1", b.signupKey, nil)
		require.Equal(t, http.StatusOK, want.Code, want.Body.String())
		got := b.do(t, "GET", "/v1/ops/users/u1", b.opsKey, nil)
		require.Equal(t, http.StatusOK, got.Code, got.Body.String())
		require.JSONEq(t, want.Body.String(), got.Body.String())
		require.Equal(t, http.StatusForbidden, b.do(t, "GET", "/v1/ops/users/u1", b.signupKey, nil).Code)
		require.Equal(t, http.StatusNotFound, b.do(t, "GET", "/v1/ops/users/nobody", b.opsKey, nil).Code)
	})

	t.Run("ReassignRefusals", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		draining := b.addLine(t, "+15550100002")
		full := b.addLine(t, "+15550100003")
		b.signup(t, map[string]any{"user_ref": "u1"})
		rec := b.do(t, "PATCH", fmt.Sprintf("/v1/ops/lines/%d", draining), b.opsKey, map[string]any{"admin_state": "draining"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		_, err := b.pool.Exec(context.Background(), `UPDATE lines SET user_count = 1000000 WHERE id = $1`, full)
		require.NoError(t, err)

		tests := []struct {
			name, path, key string
			body            any
			status          int
			code            string
		}{
			{"UnknownUser", "/v1/ops/users/nobody/reassign", b.opsKey, map[string]any{"line_id": full}, http.StatusNotFound, "user_not_found"},
			{"UnknownLine", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{"line_id": 999999}, http.StatusNotFound, "line_not_found"},
			{"DrainingLine", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{"line_id": draining}, http.StatusConflict, "line_not_taking_users"},
			{"FullLine", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{"line_id": full}, http.StatusConflict, "line_full"},
			{"NoLine", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{}, http.StatusUnprocessableEntity, "invalid_field"},
			{"LineNotANumber", "/v1/ops/users/u1/reassign", b.opsKey, map[string]any{"line_id": "2"}, http.StatusUnprocessableEntity, "invalid_field"},
			{"SignupScopeIsNotEnough", "/v1/ops/users/u1/reassign", b.signupKey, map[string]any{"line_id": full}, http.StatusForbidden, "forbidden"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := b.do(t, "POST", tt.path, tt.key, tt.body)
				require.Equal(t, tt.status, rec.Code, rec.Body.String())
				require.Equal(t, tt.code, decodeJSON[errorAnswer](t, rec).Error.Code)
			})
		}
		// Nothing moved.
		u := decodeJSON[router.User](t, b.do(t, "GET", "/v1/users/u1", b.signupKey, nil))
		require.Len(t, u.Ledger, 1)
	})

	t.Run("UnknownUserIs404", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		rec := b.do(t, "GET", "/v1/users/nobody", b.signupKey, nil)
		require.Equal(t, http.StatusNotFound, rec.Code)
		require.Equal(t, "user_not_found", decodeJSON[errorAnswer](t, rec).Error.Code)
	})

	t.Run("OpsFindAUserByHandle", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.signup(t, map[string]any{"user_ref": "u1", "handle": "+14155552671"})
		b.signup(t, map[string]any{"user_ref": "u2", "handle": "Ann@Example.com"})
		cases := []struct{ handle, userRef string }{
			{"+14155552671", "u1"},
			{"(415) 555-2671", "u1"}, // read in the default region
			{"+1 415 555 2671", "u1"},
			{"ann@example.com", "u2"},
		}
		for _, tc := range cases {
			rec := b.do(t, "GET", "/v1/ops/users?handle="+url.QueryEscape(tc.handle), b.opsKey, nil)
			require.Equal(t, http.StatusOK, rec.Code, "%s: %s", tc.handle, rec.Body.String())
			require.Equal(t, tc.userRef, decodeJSON[router.User](t, rec).UserRef, tc.handle)
		}
		refusals := []struct {
			query string
			code  int
			err   string
		}{
			{"?handle=%2B14155550000", http.StatusNotFound, "user_not_found"},
			{"", http.StatusUnprocessableEntity, "invalid_field"},
			{"?handle=not-a-handle", http.StatusUnprocessableEntity, "invalid_field"},
		}
		for _, tc := range refusals {
			rec := b.do(t, "GET", "/v1/ops/users"+tc.query, b.opsKey, nil)
			require.Equal(t, tc.code, rec.Code, "%q: %s", tc.query, rec.Body.String())
			require.Equal(t, tc.err, decodeJSON[errorAnswer](t, rec).Error.Code, tc.query)
		}
		require.Equal(t, http.StatusForbidden, b.do(t, "GET", "/v1/ops/users?handle=%2B14155552671", b.signupKey, nil).Code)
	})

	t.Run("DeleteRemovesTheUserAndTheirLinks", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		a := b.signup(t, map[string]any{"user_ref": "u1", "handle": "+14155552671"})
		require.Equal(t, http.StatusFound, b.get(t, publicPath(a.Links.Short), uaIPhone, "").Code)

		rec := b.do(t, "DELETE", "/v1/users/u1", b.signupKey, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		require.Empty(t, rec.Body.String())
		for _, method := range []string{"GET", "DELETE"} {
			rec = b.do(t, method, "/v1/users/u1", b.signupKey, nil)
			require.Equal(t, http.StatusNotFound, rec.Code, method)
			require.Equal(t, "user_not_found", decodeJSON[errorAnswer](t, rec).Error.Code, method)
		}
		require.Equal(t, http.StatusNotFound, b.get(t, publicPath(a.Links.Short), uaIPhone, "").Code, "the signup link is gone")
		// The handle is free for another user_ref.
		require.Equal(t, http.StatusCreated, b.do(t, "POST", "/v1/signups", b.signupKey, map[string]any{"user_ref": "u2", "handle": "+14155552671"}).Code)
		// Deleting takes the signup scope.
		require.Equal(t, http.StatusForbidden, b.do(t, "DELETE", "/v1/users/u2", b.opsKey, nil).Code)
	})

	t.Run("PutImportsThroughTheSameAssignment", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.addLine(t, "+15550100002")
		rec := b.do(t, "PUT", "/v1/users/legacy-7", b.signupKey, map[string]any{"handle": "+44 7911 123456"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		first := decodeJSON[signupAnswer](t, rec)
		require.Equal(t, "+447911123456", *first.Handle)

		b.clock.Advance(time.Hour)
		rec = b.do(t, "PUT", "/v1/users/legacy-7", b.signupKey, map[string]any{"handle": "+447911123456"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		again := decodeJSON[signupAnswer](t, rec)
		require.Equal(t, first.Line, again.Line)
		require.Equal(t, first.Code, again.Code)

		u := decodeJSON[router.User](t, b.do(t, "GET", "/v1/users/legacy-7", b.signupKey, nil))
		require.Len(t, u.Ledger, 1)
		require.Equal(t, "import", u.Ledger[0].Reason)
	})

	t.Run("PutUpdatesTheProfileOfAnExistingUser", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.signup(t, map[string]any{"user_ref": "other", "handle": "+14155552671"})
		first := b.signup(t, map[string]any{"user_ref": "ann"})

		rec := b.do(t, "PUT", "/v1/users/ann", b.signupKey, map[string]any{"handle": "+1 415 555 2672", "display_name": "  Ann  "})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		again := decodeJSON[signupAnswer](t, rec)
		require.Equal(t, first.Code, again.Code)
		require.Equal(t, "+14155552672", *again.Handle)
		u := decodeJSON[router.User](t, b.do(t, "GET", "/v1/users/ann", b.signupKey, nil))
		require.Equal(t, "Ann", *u.DisplayName)
		require.Len(t, u.Ledger, 1, "a profile update moves no lines")

		rec = b.do(t, "PUT", "/v1/users/ann", b.signupKey, map[string]any{"handle": "+14155552671"})
		require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
		require.Equal(t, "handle_taken", decodeJSON[errorAnswer](t, rec).Error.Code)
	})

	t.Run("EscapedUserRefIsTheSameUser", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		rec := b.do(t, "PUT", "/v1/users/crm:ann%40example.com", b.signupKey, map[string]any{})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		require.Equal(t, "crm:ann@example.com", decodeJSON[signupAnswer](t, rec).UserRef)
		rec = b.do(t, "GET", "/v1/users/crm:ann@example.com", b.signupKey, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	})

	t.Run("PathIsDecodedOnce", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		b.signup(t, map[string]any{"user_ref": "bob"})
		for _, path := range []string{"/v1/users/bo%2562", "/v1/users/%2562ob", "/v1/users/bo%252562"} {
			rec := b.do(t, "GET", path, b.signupKey, nil)
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "%s: %s", path, rec.Body.String())
			require.Equal(t, "user_ref", decodeJSON[errorAnswer](t, rec).Error.Field)
		}
		rec := b.do(t, "GET", "/v1/users/%62ob", b.signupKey, nil)
		require.Equal(t, http.StatusOK, rec.Code, "one level of escaping is undone: %s", rec.Body.String())
		require.Equal(t, "bob", decodeJSON[router.User](t, rec).UserRef)
	})

	t.Run("PutChangingTheHandleKeepsTheLines", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		first := b.signup(t, map[string]any{"user_ref": "ann", "handle": "+14155552671"})
		rec := b.do(t, "PUT", "/v1/users/ann", b.signupKey, map[string]any{"handle": "+14155552679"})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		again := decodeJSON[signupAnswer](t, rec)
		require.Equal(t, "+14155552679", *again.Handle)
		require.Equal(t, first.Line, again.Line)
	})

	t.Run("PutValidatesLikeSignup", func(t *testing.T) {
		t.Parallel()
		b := poolSetup(t)
		b.addLine(t, "+15550100001")
		rec := b.do(t, "PUT", "/v1/users/bad%20ref", b.signupKey, map[string]any{"handle": "+14155552671"})
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		require.Equal(t, "user_ref", decodeJSON[errorAnswer](t, rec).Error.Field)
		rec = b.do(t, "PUT", "/v1/users/ok", b.signupKey, map[string]any{"handle": "nope"})
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		require.Equal(t, "handle", decodeJSON[errorAnswer](t, rec).Error.Field)
	})
}
