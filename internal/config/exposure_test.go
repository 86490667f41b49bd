package config_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
)

func TestExposureSettings(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (config.Config, error) {
		full := map[string]string{"DATABASE_URL": "postgres://u@localhost/db"}
		for k, v := range env {
			full[k] = v
		}
		return config.Load(func(k string) string { return full[k] })
	}

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		c, err := load(nil)
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1:9090", c.MetricsListenAddr())
		p, err := c.TrustedProxyPrefixes()
		require.NoError(t, err)
		require.Empty(t, p)
		require.Equal(t, 30, c.AuthFailuresPerMinute)
	})

	t.Run("RouterServesMetricsOnTheMainListener", func(t *testing.T) {
		t.Parallel()
		c, err := load(map[string]string{"METRICS_ADDR": "router"})
		require.NoError(t, err)
		require.Empty(t, c.MetricsListenAddr())
	})

	t.Run("TrustedProxiesParse", func(t *testing.T) {
		t.Parallel()
		c, err := load(map[string]string{"TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.7 ,fd00::/8, ::ffff:172.16.0.0/108"})
		require.NoError(t, err)
		p, err := c.TrustedProxyPrefixes()
		require.NoError(t, err)
		require.Equal(t, []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("172.16.0.0/12"),
		}, p)
	})

	t.Run("RefusesBadValues", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct{ env, value string }{
			{"METRICS_ADDR", "9090"},
			{"METRICS_ADDR", "127.0.0.1:8080"}, // the default HTTP_ADDR
			{"TRUSTED_PROXIES", "10.0.0.0/33"},
			{"TRUSTED_PROXIES", "proxy.internal"},
			{"AUTH_FAILURES_PER_MINUTE", "-1"},
		} {
			_, err := load(map[string]string{tt.env: tt.value})
			var fe *config.FieldError
			require.ErrorAs(t, err, &fe, "%s=%s", tt.env, tt.value)
			require.ErrorContains(t, err, tt.env)
		}
	})
}
