package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHealthSettings(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db"})
		require.NoError(t, err)
		require.Equal(t, 0.5, cfg.AtRiskPace)
		require.Equal(t, 6*time.Hour, cfg.RecoveryDwell)
		require.Equal(t, 3, cfg.FlapLimit)
		require.Equal(t, 7*24*time.Hour, cfg.FlapWindow)
		require.Equal(t, "@every 1m", cfg.HealthPollSpec)
		require.Contains(t, cfg.ContinuationText, "{company}")
	})

	cases := []struct{ name, key, value string }{
		{"PaceAboveOne", "AT_RISK_PACE", "1.5"},
		{"BadPollSchedule", "HEALTH_POLL_SCHEDULE", "every minute"},
		{"NoUsersPerMinute", "RECOVERY_USERS_PER_MINUTE", "0"},
		{"NegativeDwell", "RECOVERY_DWELL", "-1h"},
		{"ZeroFlapLimit", "FLAP_LIMIT", "0"},
		{"EmptyContinuationText", "CONTINUATION_TEXT", "   "},
		{"ReshareTooOften", "CONTACT_CARD_RESHARE", "5m"},
	}
	for _, c := range cases {
		t.Run(c.name+"IsRefused", func(t *testing.T) {
			t.Parallel()
			_, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db", c.key: c.value})
			require.ErrorContains(t, err, c.key)
		})
	}
}
