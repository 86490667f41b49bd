package health

import "github.com/linegate/linegate/internal/lines"

// Line health states, from best to worst.
const (
	StateOK       = "ok"
	StateAtRisk   = "at_risk"
	StateCritical = "critical"
	StateDown     = "down"
	StateMissing  = "missing"
)

// Signals are the inputs a line's health state is derived from.
type Signals struct {
	ServiceStatus string // ACTIVE or FLAGGED
	Reputation    string // HEALTHY, AT_RISK or CRITICAL
	Ineligible    bool   // Linq answered 2027 for it
	Missing       bool   // Linq no longer lists it
}

// Derive is the one rule from signals to state: missing when Linq no longer
// lists the line, down when it is flagged or ineligible, else its
// reputation (CRITICAL → critical, AT_RISK → at_risk), else ok. A
// reputation Linegate does not know counts as at risk.
func Derive(s Signals) string {
	switch {
	case s.Missing:
		return StateMissing
	case s.ServiceStatus != lines.StatusActive || s.Ineligible:
		return StateDown
	case s.Reputation == lines.ReputationCritical:
		return StateCritical
	case s.Reputation != lines.ReputationHealthy:
		return StateAtRisk
	}
	return StateOK
}

// FailsOver reports whether users leave a line in state: critical (Linq
// advises pausing outbound), down and missing (nothing can be sent).
func FailsOver(state string) bool {
	return state == StateCritical || state == StateDown || state == StateMissing
}
