package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"PeerWhenNothingTrusted", nil, "10.1.2.3:5000", []string{"203.0.113.7"}, "10.1.2.3"},
		{"PeerWhenPeerUntrusted", trusted, "198.51.100.9:5000", []string{"203.0.113.7"}, "198.51.100.9"},
		{"ForwardedClientBehindTrustedProxy", trusted, "10.1.2.3:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"RightmostUntrustedHopWins", trusted, "10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.7, 10.9.9.9"}, "203.0.113.7"},
		{"SpoofedLeftHopsIgnored", trusted, "10.1.2.3:5000", []string{"6.6.6.6", "203.0.113.7"}, "203.0.113.7"},
		{"JunkStopsAtLastTrustedHop", trusted, "10.1.2.3:5000", []string{"not-an-ip, 10.9.9.9"}, "10.9.9.9"},
		{"NoHeaderMeansPeer", trusted, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"IPv6Proxy", trusted, "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"MappedIPv4Unmapped", trusted, "[::ffff:10.1.2.3]:80", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &server{Deps: Deps{TrustedProxies: tt.trusted}}
			r := httptest.NewRequest("GET", "/s/x", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			require.Equal(t, tt.want, s.clientIP(r))
		})
	}
}

// countingAuth counts the key checks that reach the key store.
type countingAuth struct {
	next  Authenticator
	calls atomic.Int64
}

func (c *countingAuth) Authenticate(ctx context.Context, key string) (apikey.Principal, error) {
	c.calls.Add(1)
	return c.next.Authenticate(ctx, key)
}

func TestFailedKeyChecksAreThrottled(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (http.Handler, *countingAuth, *testkit.Clock, string) {
		t.Helper()
		pool := pgtest.NewPool(t)
		clock := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		keys := apikey.New(pool, apikey.Config{Now: clock.Now})
		key, _, err := keys.Create(context.Background(), "ops", []string{apikey.ScopeOpsRead})
		require.NoError(t, err)
		auth := &countingAuth{next: keys}
		h, _ := Build(Deps{
			Logger: testkit.Logger(t), DB: pool, Auth: auth, Keys: keys,
			AuthFailuresPerMin: 4, // a burst of 5 failures, then one per 15 s
			TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Signup:             SignupConfig{Now: clock.Now},
		})
		return h, auth, clock, key
	}
	get := func(h http.Handler, client, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/ops/api-keys", nil)
		r.RemoteAddr = "127.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", client)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	guess := "lg_00000000_" + strings.Repeat("x", 43)

	t.Run("GuessingLoopStopsReachingTheKeyStore", func(t *testing.T) {
		t.Parallel()
		h, auth, _, key := setup(t)
		for range 5 {
			require.Equal(t, http.StatusUnauthorized, get(h, "203.0.113.7", guess).Code)
		}
		require.EqualValues(t, 5, auth.calls.Load())
		for range 20 {
			w := get(h, "203.0.113.7", guess)
			require.Equal(t, http.StatusTooManyRequests, w.Code)
			require.NotEmpty(t, w.Header().Get("Retry-After"))
			require.Contains(t, w.Body.String(), "too_many_auth_failures")
		}
		require.EqualValues(t, 5, auth.calls.Load(), "a throttled try must not look the key up")
		require.Equal(t, http.StatusTooManyRequests, get(h, "203.0.113.7", key).Code, "the address waits, whatever key it sends")
	})

	t.Run("OtherClientsAndValidKeysAreUnaffected", func(t *testing.T) {
		t.Parallel()
		h, _, _, key := setup(t)
		for range 6 {
			get(h, "203.0.113.7", guess)
		}
		require.Equal(t, http.StatusOK, get(h, "198.51.100.1", key).Code)
		for range 20 {
			require.Equal(t, http.StatusOK, get(h, "198.51.100.2", key).Code, "successes take no tokens")
		}
	})

	t.Run("RecoversAsTokensRefill", func(t *testing.T) {
		t.Parallel()
		h, _, clock, key := setup(t)
		for range 6 {
			get(h, "203.0.113.7", guess)
		}
		require.Equal(t, http.StatusTooManyRequests, get(h, "203.0.113.7", key).Code)
		clock.Advance(15 * time.Second)
		require.Equal(t, http.StatusOK, get(h, "203.0.113.7", key).Code)
	})
}

func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		onRouter bool
		want     int
	}{
		{"AbsentWithItsOwnListener", false, http.StatusNotFound},
		{"BehindOpsReadOnTheRouter", true, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, routes := Build(Deps{Logger: testkit.Logger(t), MetricsOnRouter: tt.onRouter})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
			require.Equal(t, tt.want, w.Code)
			found := false
			for _, rt := range routes {
				if rt.Pattern == "/metrics" {
					found = true
					require.Equal(t, apikey.ScopeOpsRead, rt.Scope)
				}
			}
			require.Equal(t, tt.onRouter, found)
		})
	}
}
