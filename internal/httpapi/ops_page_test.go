package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/httpapi"
)

func TestOpsPage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{}))
	t.Cleanup(srv.Close)
	get := func(t *testing.T, path string) (*http.Response, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	cases := []struct {
		name, path, ctype string
		contains          []string
	}{
		{"PageLoadsItsOwnScriptAndStyle", "/ops", "text/html; charset=utf-8", []string{"/ops/static/app.js", "/ops/static/app.css"}},
		// The script reads the JSON API with the session; it embeds no data.
		{"ScriptReadsTheOpsAPI", "/ops/static/app.js", "text/javascript; charset=utf-8",
			[]string{"/ops/session", "/v1/ops/lines", "/v1/ops/capacity", "/v1/ops/health", "/v1/ops/rotation", "X-CSRF-Token"}},
		{"Stylesheet", "/ops/static/app.css", "text/css; charset=utf-8", []string{"table"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, tc.path)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, tc.ctype, resp.Header.Get("Content-Type"))
			csp := resp.Header.Get("Content-Security-Policy")
			require.Contains(t, csp, "script-src 'self'")
			require.NotContains(t, csp, "unsafe-inline")
			for _, s := range tc.contains {
				require.Contains(t, body, s)
			}
		})
	}

	t.Run("NoKeyInBrowserStorage", func(t *testing.T) {
		t.Parallel()
		_, body := get(t, "/ops/static/app.js")
		require.NotContains(t, body, "localStorage")
		require.NotContains(t, body, "sessionStorage")
	})

	t.Run("UnknownAssetIsNotFound", func(t *testing.T) {
		t.Parallel()
		resp, _ := get(t, "/ops/static/other.js")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}
