package config

import (
	"strings"
	"time"
)

// WebhookSecrets splits LINQ_WEBHOOK_SECRETS (comma-separated, several during
// a rotation) into the secrets to verify Linq's deliveries with.
func (c Config) WebhookSecrets() []string {
	var out []string
	for _, s := range strings.Split(c.LinqWebhookSecrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// validateWebhooks checks the settings of webhook intake and event delivery.
func (c Config) validateWebhooks() []error {
	var errs []error
	add := func(v, reason string) { errs = append(errs, &FieldError{Var: v, Reason: reason}) }
	if c.WebhookMaxBodyBytes < 4096 {
		add("WEBHOOK_MAX_BODY_BYTES", "must be at least 4096")
	}
	if c.WebhookTolerance < time.Minute || c.WebhookTolerance > 15*time.Minute {
		add("WEBHOOK_TOLERANCE", "must be between 1m and 15m")
	}
	for _, s := range c.WebhookSecrets() {
		if len(s) < 16 {
			add("LINQ_WEBHOOK_SECRETS", "each secret must be at least 16 characters")
			break
		}
	}
	if c.EventRetryBase <= 0 {
		add("EVENT_RETRY_BASE", "must be positive")
	}
	if c.EventRetryMaxDelay < c.EventRetryBase {
		add("EVENT_RETRY_MAX_DELAY", "must be at least EVENT_RETRY_BASE")
	}
	// Product endpoints get at least a day to come back, as webhook
	// providers promise.
	if c.EventRetryFor < 24*time.Hour {
		add("EVENT_RETRY_FOR", "must be at least 24h")
	}
	// A delivery job runs the timeout plus 10 s to record its outcome, and
	// River runs a job again once it has run 45 s (a dead replica's, it
	// takes it for): a longer timeout could deliver twice.
	if c.EventDeliveryTimeout <= 0 || c.EventDeliveryTimeout > 30*time.Second {
		add("EVENT_DELIVERY_TIMEOUT", "must be between 0 and 30s")
	}
	if c.EventSecretOverlap < 0 {
		add("EVENT_SECRET_OVERLAP", "must not be negative")
	}
	if c.JobWorkers < 1 {
		add("JOB_WORKERS", "must be at least 1")
	}
	if c.JobPollInterval < 10*time.Millisecond {
		add("JOB_POLL_INTERVAL", "must be at least 10ms")
	}
	return errs
}
