package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestMetricsExposure(t *testing.T) {
	t.Parallel()

	t.Run("OwnListenerByDefault", func(t *testing.T) {
		t.Parallel()
		a := app.NewForTest(t, app.TestConfig(pgtest.NewURL(t)))
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(srv.Close)
		require.Equal(t, http.StatusNotFound, statusOf(srv, "/metrics", ""), "the main listener must not serve metrics")

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.ServeMetrics(ctx, ln) }()
		resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(body), "# TYPE")
		cancel()
		require.NoError(t, <-done)
	})

	t.Run("OnTheRouterBehindOpsRead", func(t *testing.T) {
		t.Parallel()
		cfg := app.TestConfig(pgtest.NewURL(t))
		cfg.MetricsAddr = config.MetricsOnRouter
		a := app.NewForTest(t, cfg)
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(srv.Close)
		ops, _, err := a.Keys().Create(context.Background(), "ops", []string{apikey.ScopeOpsRead})
		require.NoError(t, err)
		send, _, err := a.Keys().Create(context.Background(), "product", []string{apikey.ScopeSend})
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, statusOf(srv, "/metrics", ""))
		require.Equal(t, http.StatusForbidden, statusOf(srv, "/metrics", send))
		require.Equal(t, http.StatusOK, statusOf(srv, "/metrics", ops))
	})
}

// TestPublicLimitBehindProxy sends public short-link requests through one
// proxy address: the per-IP limit sees each forwarded client only when the
// proxy is trusted.
func TestPublicLimitBehindProxy(t *testing.T) {
	t.Parallel()
	limited := func(t *testing.T, trusted string) (sameClient, otherClients bool) {
		t.Helper()
		cfg := app.TestConfig(pgtest.NewURL(t))
		cfg.PublicRatePerMin, cfg.TrustedProxies = 4, trusted // a burst of 5
		a := app.NewForTest(t, cfg)
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(srv.Close)
		get := func(client string) int {
			req, err := http.NewRequest("GET", srv.URL+"/s/AAAAAAAAAAAAAAAAAAAAAA", nil)
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-For", client)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		for range 5 {
			require.Equal(t, http.StatusNotFound, get("203.0.113.7"))
		}
		return get("203.0.113.7") == http.StatusTooManyRequests, get("198.51.100.1") == http.StatusTooManyRequests
	}

	t.Run("UntrustedPeerSharesOneBucket", func(t *testing.T) {
		t.Parallel()
		same, other := limited(t, "")
		require.True(t, same)
		require.True(t, other, "a forged X-Forwarded-For must not buy a fresh bucket")
	})

	t.Run("TrustedProxyForwardsEachClient", func(t *testing.T) {
		t.Parallel()
		same, other := limited(t, "127.0.0.1/32, ::1")
		require.True(t, same)
		require.False(t, other)
	})
}
