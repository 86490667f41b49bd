package health

import (
	"context"
	"time"
)

// Pinger is a dependency that can be checked, such as the Postgres pool.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Probe checks readiness of the instance's dependencies.
type Probe struct {
	db      Pinger
	timeout time.Duration
}

// NewProbe builds a probe; each check gets at most timeout (default 1 s) so a
// hung database makes the instance unready instead of hanging the probe.
func NewProbe(db Pinger, timeout time.Duration) *Probe {
	if timeout <= 0 {
		timeout = time.Second
	}
	return &Probe{db: db, timeout: timeout}
}

// Report is the outcome of a readiness check, per dependency.
type Report struct {
	Ready  bool              `json:"-"`
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Ready pings every dependency.
func (p *Probe) Ready(ctx context.Context) Report {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	r := Report{Ready: true, Status: "ready", Checks: map[string]string{"postgres": "ok"}}
	// The error text may hold connection details, so it stays out of the
	// answer; only whether the check timed out is said.
	if err := p.db.Ping(ctx); err != nil {
		r.Ready, r.Status, r.Checks["postgres"] = false, "unavailable", "unreachable"
		if ctx.Err() != nil {
			r.Checks["postgres"] = "timeout"
		}
	}
	return r
}
