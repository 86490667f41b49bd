package health

import (
	"context"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/store"
)

// LineHealth is one line's health as ops see it.
type LineHealth struct {
	LineID     int64      `json:"line_id"`
	Number     string     `json:"number"`
	AdminState string     `json:"admin_state"`
	State      string     `json:"state"`
	Since      *time.Time `json:"since"`
	Cause      string     `json:"cause"`
	// Stale: no source confirmed the line's status for StaleAfter.
	Stale       bool       `json:"stale"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	HeldAt      *time.Time `json:"held_at"`
	// RecoveryAt is when the line's users may start coming back.
	RecoveryAt *time.Time `json:"recovery_at"`
	Users      int        `json:"users"`
	// Stranded users are on this line although it is failing.
	Stranded int `json:"stranded"`
}

// LineRisk is a line whose failure now would strand users.
type LineRisk struct {
	LineID   int64  `json:"line_id"`
	Number   string `json:"number"`
	Users    int    `json:"users"`
	Stranded int    `json:"would_strand"`
}

// SingleFailure says whether the pool survives the failure of any one line:
// a line's users fit if the other healthy lines have that much room left
// under their caps (their backups first, then any line, as failover
// places them).
type SingleFailure struct {
	OK          bool       `json:"ok"`
	WouldStrand []LineRisk `json:"would_strand"`
	// LinesToAdd is how many new lines (each at the cap of the default
	// budget once warmed up, NewLineCap) would absorb the worst single
	// failure; count on more while they warm up.
	LinesToAdd int `json:"lines_to_add"`
	NewLineCap int `json:"new_line_cap"`
}

// PoolHealth is the health summary of the pool.
type PoolHealth struct {
	Lines         []LineHealth   `json:"lines"`
	States        map[string]int `json:"states"`
	Stranded      int            `json:"stranded_users"`
	Stale         int            `json:"stale_lines"`
	Held          int            `json:"held_lines"`
	SingleFailure SingleFailure  `json:"single_failure"`
}

// Pool reports every line's health, the stranded users and the
// single-failure check, from one read of the pool.
func (s *Service) Pool(ctx context.Context) (PoolHealth, error) {
	snapshot, usage, err := s.lines.List(ctx)
	if err != nil {
		return PoolHealth{}, err
	}
	now := s.cfg.Now()
	out := PoolHealth{Lines: make([]LineHealth, 0, len(snapshot)), States: map[string]int{}, SingleFailure: SingleFailure{WouldStrand: []LineRisk{}}}
	for _, l := range snapshot {
		v := lineHealthOf(l, now, s.cfg.StaleAfter)
		out.Lines = append(out.Lines, v)
		out.States[v.State]++
		out.Stranded += v.Stranded
		if v.Stale && l.AdminState != lines.AdminRetired {
			out.Stale++
		}
		if l.HeldAt != nil {
			out.Held++
		}
	}
	out.SingleFailure = s.SingleFailureOf(snapshot, usage)
	return out, nil
}

// SingleFailureOf is the single-failure check of the lines and usage figure
// lines.List gave.
func (s *Service) SingleFailureOf(ls []lines.Line, usage lines.Usage) SingleFailure {
	cfg := s.lines.Config()
	return singleFailure(ls, lines.UserCap(cfg.DefaultBudget, cfg.Headroom, usage.PerUserPerDay))
}

func lineHealthOf(l lines.Line, now time.Time, staleAfter time.Duration) LineHealth {
	v := LineHealth{
		LineID: l.ID, Number: l.Number, AdminState: l.AdminState, State: l.HealthState, Since: l.HealthSince,
		ConfirmedAt: l.HealthConfirmedAt, HeldAt: l.HeldAt, RecoveryAt: l.RecoveryAt, Users: l.UserCount,
		Stale: l.HealthConfirmedAt == nil || now.Sub(*l.HealthConfirmedAt) > staleAfter,
		Cause: l.HealthCause,
	}
	if FailsOver(l.HealthState) {
		v.Stranded = l.UserCount
	}
	return v
}

// singleFailure checks, for each line carrying users that has not failed
// already, whether the room left on the other target lines takes them all.
// A target is a line line_policy lets take new users (MaySignup), the rule
// failover places by (router.roomOf). Users already stranded on a failed
// line take room first (the sweep places them before anyone else), so a
// pool that strands users now survives no further failure until they fit.
func singleFailure(snapshot []lines.Line, newLineCap int) SingleFailure {
	room, stranded := lines.FillOf(snapshot).Room, 0
	for _, l := range snapshot {
		if FailsOver(l.HealthState) {
			stranded += l.UserCount
		}
	}
	sf := SingleFailure{OK: true, WouldStrand: []LineRisk{}, NewLineCap: newLineCap}
	worst := 0
	for _, l := range snapshot {
		if l.UserCount == 0 || FailsOver(l.HealthState) {
			continue
		}
		others := room - stranded
		if l.MaySignup {
			others -= max(l.HeadroomLeft(), 0)
		}
		if strand := l.UserCount - others; strand > 0 {
			sf.OK = false
			sf.WouldStrand = append(sf.WouldStrand, LineRisk{LineID: l.ID, Number: l.Number, Users: l.UserCount, Stranded: strand})
			worst = max(worst, strand)
		}
	}
	if worst > 0 {
		if newLineCap > 0 {
			sf.LinesToAdd = (worst + newLineCap - 1) / newLineCap
		} else {
			sf.LinesToAdd = -1 // a new line would take no users with this configuration
		}
	}
	return sf
}

// Failover is one failover as ops see it.
type Failover struct {
	ID         int64      `json:"id"`
	LineID     int64      `json:"line_id"`
	Number     string     `json:"number"`
	Reason     string     `json:"reason"`
	Cause      string     `json:"cause"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	UsersMoved int        `json:"users_moved"`
	Stranded   int        `json:"stranded"`
	To         []MovedTo  `json:"to"`
}

// MovedTo is how many users of a failover went to one line.
type MovedTo struct {
	LineID int64 `json:"line_id"`
	Users  int   `json:"users"`
}

// Failovers lists failovers, newest first, before the id beforeID (0: from
// the newest).
func (s *Service) Failovers(ctx context.Context, beforeID int64, limit int) ([]Failover, error) {
	rows, err := s.q.FailoverList(ctx, s.pool, store.FailoverListParams{BeforeID: beforeID, MaxRows: int32(limit)}) //nolint:gosec // bounded by the caller
	if err != nil {
		return nil, fmt.Errorf("list failovers: %w", err)
	}
	out := make([]Failover, 0, len(rows))
	for _, r := range rows {
		f := Failover{
			ID: r.ID, LineID: r.LineID, Number: r.Number, Reason: r.Reason, Cause: r.Cause, StartedAt: r.StartedAt,
			FinishedAt: r.FinishedAt, UsersMoved: int(r.UsersMoved), Stranded: int(r.Stranded), To: make([]MovedTo, 0, len(r.ToLineIds)),
		}
		for i, id := range r.ToLineIds {
			f.To = append(f.To, MovedTo{LineID: id, Users: int(r.ToLineUsers[i])})
		}
		out = append(out, f)
	}
	return out, nil
}
