package config

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// validateHealth checks the settings of line health, failover, recovery and
// contact cards.
func (c Config) validateHealth() []error {
	var errs []error
	add := func(v, reason string) { errs = append(errs, &FieldError{Var: v, Reason: reason}) }
	if c.AtRiskPace < 0 || c.AtRiskPace > 1 {
		add("AT_RISK_PACE", "must be between 0 and 1")
	}
	for _, s := range []struct{ name, spec string }{
		{"HEALTH_POLL_SCHEDULE", c.HealthPollSpec}, {"RECOVERY_SCHEDULE", c.RecoverySpec}, {"CONTACT_CARD_SCHEDULE", c.ContactCardSpec},
	} {
		if _, err := cron.ParseStandard(s.spec); err != nil {
			add(s.name, "is not a valid cron spec")
		}
	}
	if c.HealthStaleAfter < time.Minute {
		add("HEALTH_STALE_AFTER", "must be at least 1m")
	}
	if c.RecoveryDwell < 0 {
		add("RECOVERY_DWELL", "must not be negative")
	}
	if c.RecoveryPerMinute < 1 {
		add("RECOVERY_USERS_PER_MINUTE", "must be at least 1")
	}
	if c.FlapLimit < 1 {
		add("FLAP_LIMIT", "must be at least 1")
	}
	if c.FlapWindow <= 0 {
		add("FLAP_WINDOW", "must be positive")
	}
	if strings.TrimSpace(c.ContinuationText) == "" {
		add("CONTINUATION_TEXT", "must not be empty")
	}
	if c.ContactCardReshare < time.Hour {
		add("CONTACT_CARD_RESHARE", "must be at least 1h")
	}
	return errs
}
