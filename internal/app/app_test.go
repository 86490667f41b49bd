package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/pgtest"
)

type envelope struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		RetryAfter int    `json:"retry_after"`
	} `json:"error"`
}

func do(t *testing.T, srv *httptest.Server, method, path, key string, body []byte) (*http.Response, envelope) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env envelope
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.NewDecoder(resp.Body).Decode(&env)
	}
	return resp, env
}

func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	type bundle struct {
		srv *httptest.Server
		key string
	}
	setup := func(t *testing.T) bundle {
		t.Helper()
		cfg := app.TestConfig(pgtest.NewURL(t))
		cfg.MaxBodyBytes = 2048
		a := app.NewForTest(t, cfg)
		key, _, err := a.Keys().Create(context.Background(), "ops", apikey.AllScopes)
		require.NoError(t, err)
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(srv.Close)
		return bundle{srv: srv, key: key}
	}
	b := setup(t)

	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		code               string
	}{
		{"MalformedJSON", "POST", "/v1/ops/api-keys", []byte(`{"name": "x", `), 400, "invalid_json"},
		{"UnknownField", "POST", "/v1/ops/api-keys", []byte(`{"name":"x","scopes":["send"],"extra":1}`), 400, "invalid_json"},
		{"OversizeBody", "POST", "/v1/ops/api-keys", []byte(`{"name":"` + strings.Repeat("a", 4096) + `","scopes":["send"]}`), 413, "body_too_large"},
		{"UnknownRoute", "GET", "/v1/nope", nil, 404, "not_found"},
		{"WrongMethod", "PUT", "/healthz", nil, 405, "method_not_allowed"},
		{"InvalidScope", "POST", "/v1/ops/api-keys", []byte(`{"name":"x","scopes":["root"]}`), 422, "invalid_field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, env := do(t, b.srv, tc.method, tc.path, b.key, tc.body)
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, tc.code, env.Error.Code)
			require.NotEmpty(t, env.Error.Message)
		})
	}

	t.Run("ProbesAnswerHEAD", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := b.srv.Client().Head(b.srv.URL + path)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
		}
	})

	t.Run("NothingStoredOnBadInput", func(t *testing.T) {
		t.Parallel()
		_, _ = do(t, b.srv, "POST", "/v1/ops/api-keys", b.key, []byte(`{"name":"half","scopes":["send","bogus"]}`))
		keys, err := http.NewRequest("GET", b.srv.URL+"/v1/ops/api-keys", nil)
		require.NoError(t, err)
		keys.Header.Set("Authorization", "Bearer "+b.key)
		resp, err := b.srv.Client().Do(keys)
		require.NoError(t, err)
		defer resp.Body.Close()
		var list struct {
			APIKeys []apikey.Key `json:"api_keys"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
		for _, k := range list.APIKeys {
			require.NotEqual(t, "half", k.Name)
		}
	})
}

// TestAuth runs every non-public route with no key, a key lacking the
// route's scope, and a revoked key.
func TestAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := app.TestConfig(pgtest.NewURL(t))
	// Hundreds of failed key checks come from this one address; the
	// throttle that would answer them 429 has its own tests.
	cfg.AuthFailuresPerMinute = 1 << 20
	a := app.NewForTest(t, cfg)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	revoked, k, err := a.Keys().Create(ctx, "revoked", apikey.AllScopes)
	require.NoError(t, err)
	_, err = a.Keys().Revoke(ctx, k.Prefix)
	require.NoError(t, err)
	unknown := "lg_deadbeef_" + strings.Repeat("A", 43)

	var checked int
	for _, rt := range a.Routes() {
		if rt.Scope == "" {
			continue
		}
		checked++
		var others []string
		for _, s := range apikey.AllScopes {
			if s != rt.Scope {
				others = append(others, s)
			}
		}
		wrong, _, err := a.Keys().Create(ctx, "without "+rt.Scope, others)
		require.NoError(t, err)
		path := strings.NewReplacer("{", "", "}", "").Replace(rt.Pattern)
		for _, tc := range []struct {
			name   string
			key    string
			status int
		}{
			{"NoKey", "", 401},
			{"UnknownKey", unknown, 401},
			{"RevokedKey", revoked, 401},
			{"WrongScope", wrong, 403},
		} {
			t.Run(rt.Method+" "+rt.Pattern+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				resp, env := do(t, srv, rt.Method, path, tc.key, []byte(`{}`))
				require.Equal(t, tc.status, resp.StatusCode)
				require.NotEmpty(t, env.Error.Code)
			})
		}
	}
	require.Positive(t, checked, "there must be scoped routes to check")
}

func TestReadiness(t *testing.T) {
	t.Parallel()

	t.Run("ReadyzFollowsPostgres", func(t *testing.T) {
		t.Parallel()
		cluster := pgtest.NewCluster(t)
		a := app.NewForTest(t, app.TestConfig(cluster.URL))
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(srv.Close)

		status := func(path string) int { return statusOf(srv, path, "") }
		require.Equal(t, 200, status("/readyz"))

		cluster.Stop()
		require.Equal(t, 503, status("/readyz"))
		require.Equal(t, 200, status("/healthz"), "liveness must not depend on Postgres")

		cluster.Start()
		require.Eventually(t, func() bool { return status("/readyz") == 200 }, 20*time.Second, 100*time.Millisecond)
	})
}

// publicRoutes is every route that answers without an API key. Adding one
// is a decision about what the world may reach: it changes this list.
var publicRoutes = []string{
	"DELETE /ops/session", // the dashboard's sign-in: cookie and CSRF token, not a key
	"GET /healthz",
	"GET /ops",
	"GET /ops/session",
	"GET /ops/static/{name}",
	"GET /readyz",
	"GET /s/{token}",
	"GET /s/{token}/contact.vcf",
	"GET /s/{token}/qr.png",
	"HEAD /healthz",
	"HEAD /readyz",
	"HEAD /s/{token}",
	"HEAD /s/{token}/contact.vcf",
	"HEAD /s/{token}/qr.png",
	"POST /ops/session",      // takes the key in its body
	"POST /v1/linq/webhooks", // Linq's deliveries: signed, not keyed
}

func TestPublicRoutes(t *testing.T) {
	t.Parallel()
	a := app.NewForTest(t, app.TestConfig(pgtest.NewURL(t)))
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	var public []string
	for _, rt := range a.Routes() {
		if rt.Scope == "" {
			public = append(public, rt.Method+" "+rt.Pattern)
		}
	}
	slices.Sort(public)
	require.Equal(t, publicRoutes, public)

	for _, route := range public {
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			method, pattern, _ := strings.Cut(route, " ")
			path := strings.NewReplacer("{", "", "}", "").Replace(pattern)
			resp, _ := do(t, srv, method, path, "", nil)
			require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode)
			require.Empty(t, resp.Header.Get("WWW-Authenticate"), "a public route must not ask for a key")
		})
	}
}

// TestPostgresOutage stops a test-owned Postgres under a running gateway:
// every request that needs the database, the API-key check included,
// answers 503 database_unavailable with Retry-After, and the gateway
// recovers on its own when Postgres is back.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := pgtest.NewCluster(t)
	cfg := app.TestConfig(cluster.URL)
	a := app.NewForTest(t, cfg)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	// A second gateway trusts keys for a while, so its requests get past
	// the key check and fail in the handlers' own queries.
	cached := cfg
	cached.AuthCacheTTL = time.Hour
	b := app.NewForTest(t, cached)
	cachedSrv := httptest.NewServer(b.Handler())
	t.Cleanup(cachedSrv.Close)

	key, _, err := a.Keys().Create(ctx, "ops", apikey.AllScopes)
	require.NoError(t, err)
	for _, s := range []*httptest.Server{srv, cachedSrv} {
		resp, _ := do(t, s, "GET", "/v1/ops/api-keys", key, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	cluster.Stop()
	requests := []struct {
		name         string
		srv          *httptest.Server
		method, path string
		body         []byte
	}{
		{"KeyCheck", srv, "GET", "/v1/ops/api-keys", nil},
		{"KeyCheckAgain", srv, "POST", "/v1/signups", []byte(`{"user_ref":"u1"}`)},
		{"ListKeys", cachedSrv, "GET", "/v1/ops/api-keys", nil},
		{"Signup", cachedSrv, "POST", "/v1/signups", []byte(`{"user_ref":"u1"}`)},
		{"User", cachedSrv, "GET", "/v1/users/u1", nil},
		{"Lines", cachedSrv, "GET", "/v1/ops/lines", nil},
		{"ListKeysAgain", cachedSrv, "GET", "/v1/ops/api-keys", nil},
	}
	// In order, not in parallel: the first requests meet pooled
	// connections the server cut, later ones a refused connect.
	for _, r := range requests {
		resp, env := do(t, r.srv, r.method, r.path, key, r.body)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s: %+v", r.name, env)
		require.Equal(t, "database_unavailable", env.Error.Code, r.name)
		require.Equal(t, "5", resp.Header.Get("Retry-After"), r.name)
		require.Equal(t, 5, env.Error.RetryAfter, r.name)
		require.NotContains(t, env.Error.Message, "127.0.0.1", "connection details stay in the log")
	}

	cluster.Start()
	require.Eventually(t, func() bool { return statusOf(srv, "/v1/ops/api-keys", key) == http.StatusOK },
		20*time.Second, 100*time.Millisecond)
}

// statusOf is a GET's status, 0 when it fails; it calls no require, so
// polls (which run off the test goroutine) may use it.
func statusOf(srv *httptest.Server, path, key string) int {
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		return 0
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
