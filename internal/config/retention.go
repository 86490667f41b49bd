package config

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// maxRetention caps every retention: a longer one is a typo more often than
// a wish, and the tables' size follows it.
const maxRetention = 366 * 24 * time.Hour

// validateRetention checks the retention schedule, its batch size and each
// table's retention.
func (c Config) validateRetention() []error {
	var errs []error
	add := func(v, reason string) { errs = append(errs, &FieldError{Var: v, Reason: reason}) }
	if _, err := cron.ParseStandard(c.RetentionSpec); err != nil {
		add("RETENTION_SCHEDULE", "is not a valid cron spec")
	}
	if c.RetentionBatch < 100 || c.RetentionBatch > 100_000 {
		add("RETENTION_BATCH", "must be between 100 and 100000")
	}
	// The lower bounds keep what readers still need: Linq redelivers a
	// webhook for up to a day (its event_id is the dedupe key), ops replay
	// dead deliveries, the flap count reads FLAP_WINDOW of health history.
	for _, r := range []struct {
		name     string
		val, min time.Duration
	}{
		{"WEBHOOK_EVENTS_RETENTION", c.WebhookEventsRetention, 24 * time.Hour},
		{"EVENT_DELIVERIES_RETENTION", c.EventDeliveriesRetention, 24 * time.Hour},
		{"DEAD_EVENT_DELIVERIES_RETENTION", c.DeadEventDeliveriesRetention, 24 * time.Hour},
		{"LINQ_MESSAGES_RETENTION", c.LinqMessagesRetention, 24 * time.Hour},
		{"SIGNUP_LINKS_RETENTION", c.SignupLinksRetention, time.Hour},
		{"OPS_SESSIONS_RETENTION", c.OpsSessionsRetention, time.Hour},
		{"PAIR_QUARANTINES_RETENTION", c.PairQuarantinesRetention, 24 * time.Hour},
		{"LINE_HEALTH_HISTORY_RETENTION", c.LineHealthHistoryRetention, max(c.FlapWindow, 24*time.Hour)},
		{"FAILOVERS_RETENTION", c.FailoversRetention, 24 * time.Hour},
		{"LINE_LEDGER_RETENTION", c.LineLedgerRetention, 24 * time.Hour},
		{"COMPLETED_JOBS_RETENTION", c.CompletedJobsRetention, time.Minute},
		{"CANCELLED_JOBS_RETENTION", c.CancelledJobsRetention, time.Minute},
		{"DISCARDED_JOBS_RETENTION", c.DiscardedJobsRetention, time.Minute},
	} {
		if r.val < r.min || r.val > maxRetention {
			add(r.name, fmt.Sprintf("must be between %s and %s", r.min, maxRetention))
		}
	}
	return errs
}
