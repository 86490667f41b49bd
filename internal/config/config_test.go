package config_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
)

func load(env map[string]string) (config.Config, error) {
	return config.Load(func(k string) string { return env[k] })
}

func TestLoad(t *testing.T) {
	t.Parallel()

	t.Run("DefaultsAreValid", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{"DATABASE_URL": "postgres://u:p@localhost/db"})
		require.NoError(t, err)
		require.Equal(t, 0.15, cfg.Headroom)
		require.Equal(t, 7000, cfg.LineDailyBudget)
		require.Equal(t, config.DefaultSimulatorURL, cfg.LinqBaseURL, "no key means the simulator")
		require.Empty(t, cfg.Warnings())
	})

	t.Run("RealLinqWithAKey", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db", "LINQ_API_KEY": "k"})
		require.NoError(t, err)
		require.Equal(t, config.DefaultLinqBaseURL, cfg.LinqBaseURL)
	})

	t.Run("WarnsOutsideRecommendedHeadroom", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db", "HEADROOM": "0.3"})
		require.NoError(t, err)
		require.Len(t, cfg.Warnings(), 1)
	})

	for _, tc := range []struct{ name, key, val string }{
		{"RejectsHeadroomAboveHalf", "HEADROOM", "0.51"},
		{"RejectsNegativeHeadroom", "HEADROOM", "-0.1"},
		{"RejectsUnknownLogLevel", "LOG_LEVEL", "verbose"},
		{"RejectsUnknownLogFormat", "LOG_FORMAT", "xml"},
		{"RejectsBadInteger", "LINE_DAILY_BUDGET", "lots"},
		{"RejectsZeroBudget", "LINE_DAILY_BUDGET", "0"},
		{"RejectsBadDuration", "PAIR_WINDOW", "1 minute"},
		{"RejectsRelativePublicURL", "PUBLIC_URL", "/s"},
		{"RejectsShortIdempotencyTTL", "IDEMPOTENCY_TTL", "1h"},
		{"RejectsNegativeQuarantineHits", "QUARANTINE_HITS", "-1"},
		{"RejectsZeroQuarantineDuration", "QUARANTINE_DURATION", "0s"},
		{"RejectsReplyReserveOfOne", "REPLY_RESERVE", "1"},
		{"RejectsNegativeWarmup", "WARMUP_DAYS", "-1"},
		{"RejectsNegativeReplyWindow", "REPLY_WINDOW", "-1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db", tc.key: tc.val})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.key)
		})
	}

	// Zero is a value, not "use the default": the loop guard off, no reply
	// reserve, no warm-up.
	t.Run("ZeroMeansZero", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db",
			"QUARANTINE_HITS": "0", "REPLY_RESERVE": "0", "WARMUP_DAYS": "0"})
		require.NoError(t, err)
		require.Zero(t, cfg.QuarantineHits)
		require.Zero(t, cfg.ReplyReserve)
		require.Zero(t, cfg.WarmupDays)
	})

	t.Run("LogsWithSecretsMasked", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{
			"DATABASE_URL": "postgres://app:hunter2@db.internal:5432/linegate",
			"LINQ_API_KEY": "sk_live_secret",
		})
		require.NoError(t, err)
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", slog.Any("config", cfg))
		out := buf.String()
		for _, secret := range []string{"hunter2", "sk_live_secret"} {
			require.NotContains(t, out, secret)
		}
		require.True(t, strings.Contains(out, "db.internal"), "the database host stays visible")
	})
}

func TestLogValueMasksDatabasePassword(t *testing.T) {
	t.Parallel()
	// pgx takes the password from the URL's user info, from a password (or
	// sslpassword) query parameter, or from a keyword/value string.
	for _, tc := range []struct{ name, url, host string }{
		{"UserInfo", "postgres://app:hunter2@db.internal:5432/linegate", "db.internal"},
		{"QueryParameter", "postgres://app@db.internal:5432/linegate?sslmode=require&password=hunter2", "db.internal"},
		{"SSLPassword", "postgres://app@db.internal/linegate?sslpassword=hunter2", "db.internal"},
		{"KeywordValue", "host=db.internal user=app password=hunter2 dbname=linegate", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := load(map[string]string{"DATABASE_URL": tc.url})
			require.NoError(t, err)
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("config", slog.Any("config", cfg))
			require.NotContains(t, buf.String(), "hunter2")
			require.Contains(t, buf.String(), tc.host)
		})
	}
}
