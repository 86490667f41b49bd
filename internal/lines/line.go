package lines

import (
	"time"
)

// Admin states of a line.
const (
	AdminActive   = "active"
	AdminDraining = "draining"
	AdminRetired  = "retired"
)

// Reputations and service statuses as Linq reports them.
const (
	ReputationHealthy  = "HEALTHY"
	ReputationAtRisk   = "AT_RISK"
	ReputationCritical = "CRITICAL"
	StatusActive       = "ACTIVE"
	StatusFlagged      = "FLAGGED"
)

// ReadReputation is the reputation the pool keeps for what Linq reported:
// rep itself when Linq's wire defines it (known), else at risk, so that a
// value Linq adds later takes no new users until Linq says more.
func ReadReputation(rep string) (kept string, known bool) {
	switch rep {
	case ReputationHealthy, ReputationAtRisk, ReputationCritical:
		return rep, true
	}
	return ReputationAtRisk, false
}

// ReadStatus is the service status the pool keeps for what Linq reported:
// status itself when Linq's wire defines it (known), else "" (keep the
// stored one), so that a value Linq adds later neither takes a line down
// and moves its users nor brings it back.
func ReadStatus(status string) (kept string, known bool) {
	switch status {
	case StatusActive, StatusFlagged:
		return status, true
	}
	return "", false
}

// Reasons a line takes no new users, as Line.BlockReason reports them. The
// ones of the line's state come from line_policy (which also names
// line_down, line_missing, line_critical, line_at_risk and line_held from
// the health state); the last three are the pool's own.
const (
	BlockDraining   = "draining"
	BlockRetired    = "retired"
	BlockFlagged    = "flagged"
	BlockIneligible = "ineligible"
	BlockMissing    = "missing_from_linq"
	BlockAtRisk     = "reputation_at_risk"
	BlockCritical   = "reputation_critical"
	BlockNoCapacity = "no_capacity"
	BlockAtCap      = "at_cap"
	BlockRamp       = "ramp_limited"
)

// Line is one line of the pool with its capacity worked out for a moment.
type Line struct {
	ID              int64
	Number          string
	LinqID          string
	Reputation      string
	ServiceStatus   string
	AdminState      string
	IneligibleAt    *time.Time
	MissingAt       *time.Time
	BudgetOverride  *int
	WarmupStartedAt time.Time
	UserCount       int
	LastAssignedAt  *time.Time
	StatusChangedAt time.Time
	SyncedAt        *time.Time

	// SignupsLastHour counts new users in the ramp window; RampFreesAt is
	// when its oldest bucket leaves the window.
	SignupsLastHour int
	RampFreesAt     time.Time
	RampLimit       int

	// HealthState is the health job's verdict (ok, at_risk, critical,
	// down, missing); HeldAt is set while a flapping line is held out of
	// signups and recovery.
	HealthState string
	HeldAt      *time.Time
	// HealthSince and HealthCause say when and why the state was entered;
	// HealthConfirmedAt when a source last confirmed it; RecoveryAt from
	// when the line's users may come back.
	HealthSince       *time.Time
	HealthCause       string
	HealthConfirmedAt *time.Time
	RecoveryAt        *time.Time

	// What line_policy allows now: sending at all (replies), sending
	// proactively, taking new users; SendWhy says why sends are refused or
	// paced, SignupWhy why the line takes no new users ("" when it may).
	MaySend          bool
	MaySendProactive bool
	MaySignup        bool
	SendWhy          string
	SignupWhy        string

	// Budget is the override or the default; EffectiveBudget is Budget
	// after warm-up (WarmupFactor) and ProactiveBudget what proactive sends
	// may use of it; Cap is the user cap. All but Cap are line_policy's.
	Budget          int
	WarmupFactor    float64
	EffectiveBudget int
	ProactiveBudget int
	Cap             int
}

// Serving reports whether the line can carry traffic: active and allowed
// to send proactively by line_policy. A backup or failover target must be
// serving.
func (l Line) Serving() bool { return l.AdminState == AdminActive && l.MaySendProactive }

// Healthy reports whether line_policy lets the line take new users (its
// capacity aside): the lines new backups are chosen from.
func (l Line) Healthy() bool { return l.MaySignup }

// BlockReason says why the line takes no new users, or "" when it does.
// Reasons are checked from the most permanent to the most passing.
func (l Line) BlockReason() string {
	switch {
	case l.SignupWhy != "":
		return l.SignupWhy
	case !l.MaySignup:
		return BlockAtRisk // line_policy gave no reason: be safe
	case l.Cap <= 0:
		return BlockNoCapacity
	case l.UserCount >= l.Cap:
		return BlockAtCap
	case l.SignupsLastHour >= l.RampLimit:
		return BlockRamp
	}
	return ""
}

// Utilization is users ÷ cap (1 when the cap is 0 and users exist, 0 for
// an empty line with no capacity).
func (l Line) Utilization() float64 {
	if l.Cap <= 0 {
		if l.UserCount > 0 {
			return 1
		}
		return 0
	}
	return float64(l.UserCount) / float64(l.Cap)
}

// HeadroomLeft is how many more users the line may take before its cap
// (negative when over it, e.g. after a failover onto it).
func (l Line) HeadroomLeft() int { return l.Cap - l.UserCount }
