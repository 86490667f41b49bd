package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetentionSettings(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db"})
		require.NoError(t, err)
		require.Equal(t, "@every 1h", cfg.RetentionSpec)
		require.Equal(t, 5000, cfg.RetentionBatch)
		require.Equal(t, 7*24*time.Hour, cfg.WebhookEventsRetention)
		require.Equal(t, 30*24*time.Hour, cfg.DeadEventDeliveriesRetention)
		require.Equal(t, 90*24*time.Hour, cfg.LineLedgerRetention)
		require.Equal(t, 24*time.Hour, cfg.CompletedJobsRetention)
		require.Equal(t, 7*24*time.Hour, cfg.DiscardedJobsRetention)
	})

	cases := []struct{ name, key, value string }{
		{"BadSchedule", "RETENTION_SCHEDULE", "hourly"},
		{"TinyBatch", "RETENTION_BATCH", "10"},
		{"HugeBatch", "RETENTION_BATCH", "1000000"},
		{"WebhookEventsUnderADay", "WEBHOOK_EVENTS_RETENTION", "1h"},
		{"DeadDeliveriesOverAYear", "DEAD_EVENT_DELIVERIES_RETENTION", "9000h"},
		{"HealthHistoryShorterThanFlapWindow", "LINE_HEALTH_HISTORY_RETENTION", "48h"},
		{"ZeroCompletedJobs", "COMPLETED_JOBS_RETENTION", "0s"},
	}
	for _, c := range cases {
		t.Run(c.name+"IsRefused", func(t *testing.T) {
			t.Parallel()
			_, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/db", c.key: c.value})
			require.ErrorContains(t, err, c.key)
		})
	}
}
