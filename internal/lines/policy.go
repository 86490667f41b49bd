package lines

import (
	"encoding/json"
	"time"
)

// Policy holds the settings of line_policy (db/functions/line_policy.sql),
// the one definition of what a line may do now: send, send proactively,
// take new users, and with which budget. Send admission applies it in the
// same statement that counts the send; the pool reads it through Snapshot.
// Go never works any of it out again.
type Policy struct {
	// DefaultBudget is a line's rolling-24h budget of inbound plus
	// outbound messages unless the line overrides it.
	DefaultBudget int
	// Warmup is the ramp of a new line's budget from 20 % to 100 % (0:
	// none).
	Warmup time.Duration
	// ReplyReserve is the share of the budget only replies may use.
	ReplyReserve float64
	// AtRiskPace is the share of its proactive budget a line whose health
	// is at_risk may still use.
	AtRiskPace float64
}

// DefaultPolicy is the policy of the configuration's defaults.
func DefaultPolicy() Policy {
	return Policy{DefaultBudget: 7000, Warmup: 14 * 24 * time.Hour, ReplyReserve: 0.10, AtRiskPace: 0.5}
}

// Settings are the policy as line_policy reads them; callers add their own
// keys for the functions that pass the settings on.
func (p Policy) Settings() map[string]any {
	return map[string]any{
		"budget":       p.DefaultBudget,
		"warmup_ms":    p.Warmup.Milliseconds(),
		"reserve":      p.ReplyReserve,
		"at_risk_pace": p.AtRiskPace,
	}
}

// Settings JSON for the queries that read the policy.
func (p Policy) settingsJSON() []byte {
	b, err := json.Marshal(p.Settings())
	if err != nil {
		panic("lines: policy settings do not marshal: " + err.Error()) // numbers only
	}
	return b
}
