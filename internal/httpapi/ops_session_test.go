package httpapi_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/httpapi"
)

// sameSite are the headers a browser sends on a fetch from the page
// (httptest requests go to example.com).
var sameSite = map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}

func withHeaders(base map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

type signedIn struct {
	cookie *http.Cookie
	csrf   string
}

func (b *opsBundle) signIn(t *testing.T, key string) signedIn {
	t.Helper()
	rec := b.request(t, "POST", "/ops/session", map[string]string{"key": key}, "", sameSite)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var c *http.Cookie
	for _, x := range rec.Result().Cookies() {
		if x.Name == httpapi.OpsSessionCookie {
			c = x
		}
	}
	require.NotNil(t, c, "no session cookie")
	body := decodeJSON[struct {
		CSRF string `json:"csrf_token"`
	}](t, rec)
	require.NotEmpty(t, body.CSRF)
	return signedIn{cookie: c, csrf: body.CSRF}
}

func TestOpsSession(t *testing.T) {
	t.Parallel()

	t.Run("SignInSetsAStrictHttpOnlyCookie", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		s := b.signIn(t, b.opsKey)
		require.True(t, s.cookie.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, s.cookie.SameSite)
		require.False(t, s.cookie.Secure, "plain http: a Secure cookie would never come back")
		require.Equal(t, "/", s.cookie.Path)
		require.NotContains(t, s.cookie.Value, b.opsKey)
		var stored int
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM ops_sessions WHERE expires_at = $1`, opsNow.Add(time.Hour)).Scan(&stored))
		require.Equal(t, 1, stored, "server-side expiry")
	})

	t.Run("CookieIsSecureOverHTTPS", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, publicURL string
			tls             bool
		}{{"TLSConnection", "http://lg.example.com", true}, {"HTTPSPublicURL", "https://lg.example.com", false}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := opsSetup(t, tc.publicURL)
				req := httptest.NewRequest("POST", "/ops/session", strings.NewReader(`{"key":"`+b.opsKey+`"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				if tc.tls {
					req.TLS = &tls.ConnectionState{}
				}
				rec := httptest.NewRecorder()
				b.handler.ServeHTTP(rec, req)
				require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
				require.Len(t, rec.Result().Cookies(), 1)
				require.True(t, rec.Result().Cookies()[0].Secure)
			})
		}
	})

	t.Run("SignInRefusesBadKeysAndOtherSites", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		sendKey, _, err := b.keys.Create(context.Background(), "product", []string{apikey.ScopeSend})
		require.NoError(t, err)
		cases := []struct {
			name   string
			key    string
			header map[string]string
			status int
		}{
			{"UnknownKey", "lg_nope", sameSite, http.StatusUnauthorized},
			{"KeyWithoutOpsRead", sendKey, sameSite, http.StatusForbidden},
			{"CrossSite", b.opsKey, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
			{"NoBrowserOriginHeaders", b.opsKey, nil, http.StatusForbidden},
		}
		for _, tc := range cases {
			rec := b.request(t, "POST", "/ops/session", map[string]string{"key": tc.key}, "", tc.header)
			require.Equal(t, tc.status, rec.Code, "%s: %s", tc.name, rec.Body.String())
			require.Empty(t, rec.Result().Cookies(), tc.name)
		}
	})

	t.Run("CookieOpensOpsReadsFromThePageOnly", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		s := b.signIn(t, b.opsKey)
		cases := []struct {
			name   string
			path   string
			header map[string]string
			status int
		}{
			{"SameOrigin", "/v1/ops/lines", sameSite, http.StatusOK},
			{"NavigationWithoutFetchHeaders", "/v1/ops/capacity", nil, http.StatusOK},
			{"CrossSiteFetch", "/v1/ops/lines", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
			{"SameSiteOtherOrigin", "/v1/ops/lines", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
			{"ForeignOrigin", "/v1/ops/lines", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
			{"NotForNonOpsRoutes", "/v1/users/someone", sameSite, http.StatusUnauthorized},
		}
		for _, tc := range cases {
			rec := b.request(t, "GET", tc.path, nil, s.cookie.Value, tc.header)
			require.Equal(t, tc.status, rec.Code, "%s: %s", tc.name, rec.Body.String())
		}
		rec := b.request(t, "GET", "/ops/session", nil, s.cookie.Value, sameSite)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Body.String(), `"signed_in":true`)
		require.Contains(t, rec.Body.String(), s.csrf)
	})

	t.Run("WritesNeedTheCSRFToken", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		line := b.addFixtureLine(t, "+15550100001", 0, "")
		s := b.signIn(t, b.opsKey)
		path := "/v1/ops/lines/" + itoa64(line)
		body := map[string]string{"admin_state": "draining"}
		rec := b.request(t, "PATCH", path, body, s.cookie.Value, sameSite)
		require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), "csrf")
		rec = b.request(t, "PATCH", path, body, s.cookie.Value, withHeaders(sameSite, map[string]string{httpapi.CSRFHeader: "wrong"}))
		require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
		rec = b.request(t, "PATCH", path, body, s.cookie.Value, withHeaders(sameSite, map[string]string{httpapi.CSRFHeader: s.csrf}))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), `"admin_state":"draining"`)
	})

	t.Run("PageAtThePublicURLBehindAProxyThatRewritesHost", func(t *testing.T) {
		t.Parallel()
		// A proxy that passes the request on with its upstream's Host (nginx's
		// default) leaves the browser's Origin naming PUBLIC_URL, not r.Host.
		b := opsSetup(t, "https://lg.example.com")
		line := b.addFixtureLine(t, "+15550100001", 0, "")
		do := func(method, path, body, cookie, csrf string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Host = "10.0.0.7:8080"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", "https://lg.example.com")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if cookie != "" {
				req.AddCookie(&http.Cookie{Name: httpapi.OpsSessionCookie, Value: cookie})
				req.Header.Set(httpapi.CSRFHeader, csrf)
			}
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			return rec
		}
		rec := do("POST", "/ops/session", `{"key":"`+b.opsKey+`"}`, "", "")
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		var cookie string
		for _, c := range rec.Result().Cookies() {
			if c.Name == httpapi.OpsSessionCookie {
				cookie = c.Value
			}
		}
		csrf := decodeJSON[struct {
			CSRF string `json:"csrf_token"`
		}](t, rec).CSRF
		rec = do("PATCH", "/v1/ops/lines/"+itoa64(line), `{"admin_state":"draining"}`, cookie, csrf)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

		// Another origin is still refused.
		req := httptest.NewRequest("POST", "/ops/session", strings.NewReader(`{"key":"`+b.opsKey+`"}`))
		req.Host = "10.0.0.7:8080"
		req.Header.Set("Origin", "https://evil.example")
		rec = httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	})

	t.Run("ReadOnlyKeySessionCannotWrite", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")
		line := b.addFixtureLine(t, "+15550100001", 0, "")
		ro, _, err := b.keys.Create(context.Background(), "viewer", []string{apikey.ScopeOpsRead})
		require.NoError(t, err)
		s := b.signIn(t, ro)
		rec := b.request(t, "PATCH", "/v1/ops/lines/"+itoa64(line), map[string]string{"admin_state": "draining"}, s.cookie.Value,
			withHeaders(sameSite, map[string]string{httpapi.CSRFHeader: s.csrf}))
		require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
	})

	t.Run("CookieRefusedAfterSignOutExpiryOrKeyRevocation", func(t *testing.T) {
		t.Parallel()
		b := opsSetup(t, "http://lg.example.com")

		out := b.signIn(t, b.opsKey)
		rec := b.request(t, "DELETE", "/ops/session", nil, out.cookie.Value, sameSite)
		require.Equal(t, http.StatusForbidden, rec.Code, "sign-out is a write: it needs the CSRF token")
		rec = b.request(t, "DELETE", "/ops/session", nil, out.cookie.Value, withHeaders(sameSite, map[string]string{httpapi.CSRFHeader: out.csrf}))
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		require.Equal(t, -1, rec.Result().Cookies()[0].MaxAge)
		rec = b.request(t, "GET", "/v1/ops/lines", nil, out.cookie.Value, sameSite)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "signed out")
		rec = b.request(t, "GET", "/ops/session", nil, out.cookie.Value, sameSite)
		require.Contains(t, rec.Body.String(), `"signed_in":false`)

		old := b.signIn(t, b.opsKey)
		b.clock.Advance(time.Hour + time.Second)
		rec = b.request(t, "GET", "/v1/ops/lines", nil, old.cookie.Value, sameSite)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "expired")

		key, k, err := b.keys.Create(context.Background(), "leaver", []string{apikey.ScopeOpsRead})
		require.NoError(t, err)
		rev := b.signIn(t, key)
		_, err = b.keys.Revoke(context.Background(), k.Prefix)
		require.NoError(t, err)
		rec = b.request(t, "GET", "/v1/ops/lines", nil, rev.cookie.Value, sameSite)
		require.Equal(t, http.StatusUnauthorized, rec.Code, "key revoked")
	})
}
