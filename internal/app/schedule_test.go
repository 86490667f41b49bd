package app_test

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/pgtest"
)

func TestScheduledJobs(t *testing.T) {
	t.Parallel()

	t.Run("JobsOnAnHourOrLongerCatchUpAtStart", func(t *testing.T) {
		t.Parallel()
		a := app.NewForTest(t, app.TestConfig(pgtest.NewURL(t)))
		// A cron's first tick comes one interval after start: replicas
		// restarted (deployed, rescheduled) more often than that would never
		// prune or make partitions ahead without the catch-up.
		now := time.Now()
		var long []string
		for _, j := range a.BackgroundJobs() {
			sched, err := cron.ParseStandard(j.Spec)
			require.NoError(t, err)
			next := sched.Next(now)
			if sched.Next(next).Sub(next) >= time.Hour {
				long = append(long, j.Name)
				require.True(t, j.CatchUp, "job %s (%s) catches up at start", j.Name, j.Spec)
			}
		}
		require.Subset(t, long, []string{"retention", "message_partitions", "idempotency_cleanup", "event_delivery_orphans"})
	})
}
