package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/pgtest"
)

// TestJobsUI checks River's UI under /ops/jobs: open with a dashboard
// session, closed without one or across sites, and writes need ops:write.
func TestJobsUI(t *testing.T) {
	t.Parallel()
	a := app.NewForTest(t, app.TestConfig(pgtest.NewURL(t)))
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	origin := map[string]string{"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}

	// session signs in with a key of scopes and returns the cookie value.
	session := func(t *testing.T, scopes ...string) string {
		t.Helper()
		key, _, err := a.Keys().Create(ctx, "ops", scopes)
		require.NoError(t, err)
		resp := send(t, srv, "POST", "/ops/session", `{"key":"`+key+`"}`, "", origin)
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		for _, c := range resp.Cookies() {
			if c.Name == httpapi.OpsSessionCookie {
				return c.Value
			}
		}
		t.Fatal("no session cookie")
		return ""
	}
	reader := session(t, apikey.ScopeOpsRead)
	writer := session(t, apikey.ScopeOpsRead, apikey.ScopeOpsWrite)

	t.Run("SignedInSeesTheUIAndItsAPI", func(t *testing.T) {
		t.Parallel()
		resp := send(t, srv, "GET", "/ops/jobs/", "", reader, origin)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		resp = send(t, srv, "GET", "/ops/jobs/api/queues", "", reader, origin)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	})

	t.Run("WithoutSessionThePageSendsToSignIn", func(t *testing.T) {
		t.Parallel()
		resp := send(t, srv, "GET", "/ops/jobs/", "", "", origin)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/ops", resp.Header.Get("Location"))
		resp = send(t, srv, "GET", "/ops/jobs/api/queues", "", "", origin)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("CrossSiteRefused", func(t *testing.T) {
		t.Parallel()
		resp := send(t, srv, "GET", "/ops/jobs/api/queues", "", reader, map[string]string{"Sec-Fetch-Site": "cross-site"})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})

	t.Run("RetryNeedsOpsWrite", func(t *testing.T) {
		t.Parallel()
		body := `{"job_ids":["1"]}`
		resp := send(t, srv, "POST", "/ops/jobs/api/jobs/retry", body, reader, origin)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp = send(t, srv, "POST", "/ops/jobs/api/jobs/retry", body, writer, origin)
		require.NotEqual(t, http.StatusForbidden, resp.StatusCode)
		require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode)
		resp = send(t, srv, "POST", "/ops/jobs/api/jobs/retry", body, writer, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "a write without a browser's origin headers")
	})
}

// send makes one request without following redirects; cookie is the
// session cookie ("" for none).
func send(t *testing.T, srv *httptest.Server, method, path, body, cookie string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.OpsSessionCookie, Value: cookie})
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp
}
