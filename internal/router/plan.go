package router

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/linegate/linegate/internal/lines"
)

// Pick reasons: why a line was chosen over the runner-up.
const (
	ReasonLowestUtilization = "lowest_utilization"
	ReasonLeastRecent       = "least_recently_assigned"
	ReasonLowestID          = "lowest_id"
	ReasonOnlyEligible      = "only_eligible_line"
	ReasonExisting          = "existing_assignment"
)

// Pool-unavailable reasons.
const (
	PoolRampLimited = "pool_ramp_limited"
	PoolExhausted   = "pool_exhausted"
)

// planner replays assignment decisions in memory on one snapshot. It is the
// only selection code: signups and the rotation preview both use it.
type planner struct {
	lines []*lines.Line
	byID  map[int64]*lines.Line
	now   time.Time
	// nextAssigned is the last_assigned_at the next pick gets: later than
	// every stored one, one microsecond apart, so recency survives a
	// round trip through Postgres and a frozen test clock.
	nextAssigned time.Time
	minute       time.Time
}

func newPlanner(snapshot []lines.Line, now time.Time) *planner {
	p := &planner{byID: make(map[int64]*lines.Line, len(snapshot)), now: now, minute: now.Truncate(time.Minute)}
	next := now.Truncate(time.Microsecond)
	for i := range snapshot {
		l := &snapshot[i]
		p.lines = append(p.lines, l)
		p.byID[l.ID] = l
		if l.LastAssignedAt != nil && !l.LastAssignedAt.Before(next) {
			next = l.LastAssignedAt.Add(time.Microsecond)
		}
	}
	p.nextAssigned = next
	return p
}

// add puts the lines of more that the planner does not hold yet into it;
// the ones it holds keep what this batch booked on them.
func (p *planner) add(more []lines.Line) {
	for i := range more {
		l := &more[i]
		if p.byID[l.ID] != nil {
			continue
		}
		p.lines = append(p.lines, l)
		p.byID[l.ID] = l
	}
}

// assignedAfter moves the next assignment time past last, the latest one
// stored on any line (the planner may hold only some lines).
func (p *planner) assignedAfter(last time.Time) {
	if !last.Before(p.nextAssigned) {
		p.nextAssigned = last.Truncate(time.Microsecond).Add(time.Microsecond)
	}
}

// utilCmp compares users ÷ cap of a and b exactly (a line with no capacity
// ranks after every line with some).
func utilCmp(a, b *lines.Line) int {
	switch {
	case a.Cap <= 0 && b.Cap <= 0:
		return cmp.Compare(a.UserCount, b.UserCount)
	case a.Cap <= 0:
		return 1
	case b.Cap <= 0:
		return -1
	}
	return cmp.Compare(int64(a.UserCount)*int64(b.Cap), int64(b.UserCount)*int64(a.Cap))
}

// recencyCmp orders never-assigned lines first, then by last assignment.
func recencyCmp(a, b *lines.Line) int {
	switch {
	case a.LastAssignedAt == nil && b.LastAssignedAt == nil:
		return 0
	case a.LastAssignedAt == nil:
		return -1
	case b.LastAssignedAt == nil:
		return 1
	}
	return a.LastAssignedAt.Compare(*b.LastAssignedAt)
}

func homeCmp(a, b *lines.Line) int {
	if c := utilCmp(a, b); c != 0 {
		return c
	}
	if c := recencyCmp(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// best returns the line the next signup would get and why, or nil.
func (p *planner) best() (*lines.Line, string) {
	var first, second *lines.Line
	for _, l := range p.lines {
		if l.BlockReason() != "" {
			continue
		}
		switch {
		case first == nil || homeCmp(l, first) < 0:
			first, second = l, first
		case second == nil || homeCmp(l, second) < 0:
			second = l
		}
	}
	switch {
	case first == nil:
		return nil, ""
	case second == nil:
		return first, ReasonOnlyEligible
	case utilCmp(first, second) != 0:
		return first, ReasonLowestUtilization
	case recencyCmp(first, second) != 0:
		return first, ReasonLeastRecent
	default:
		return first, ReasonLowestID
	}
}

// pickHome chooses and books the next home line, or reports why none is
// eligible and when to retry.
func (p *planner) pickHome() (*lines.Line, string, *unavailable) {
	l, reason := p.best()
	if l == nil {
		return nil, "", p.unavailable()
	}
	l.UserCount++
	if l.SignupsLastHour == 0 {
		l.RampFreesAt = p.minute.Add(lines.RampWindow + time.Minute)
	}
	l.SignupsLastHour++
	t := p.nextAssigned
	l.LastAssignedAt = &t
	p.nextAssigned = t.Add(time.Microsecond)
	return l, reason, nil
}

type unavailable struct {
	reason     string
	retryAfter time.Duration
}

// exhaustedRetry is the Retry-After of a full pool: capacity only comes
// back when ops add or reopen lines, or users leave.
const exhaustedRetry = 5 * time.Minute

// unavailable explains an empty choice: some line only waiting for its
// hourly ramp means waiting helps (pool_ramp_limited, until the earliest
// such line frees a slot); otherwise the pool is exhausted.
func (p *planner) unavailable() *unavailable {
	var frees time.Time
	for _, l := range p.lines {
		if l.BlockReason() == lines.BlockRamp && (frees.IsZero() || l.RampFreesAt.Before(frees)) {
			frees = l.RampFreesAt
		}
	}
	if frees.IsZero() {
		return &unavailable{reason: PoolExhausted, retryAfter: exhaustedRetry}
	}
	return &unavailable{reason: PoolRampLimited, retryAfter: max(frees.Sub(p.now), time.Second)}
}

// backupSlots counts, per home line, the backup slots each line holds for
// that home line's users.
type backupSlots map[int64]map[int64]int

func (b backupSlots) add(home, line int64, n int) {
	m := b[home]
	if m == nil {
		m = map[int64]int{}
		b[home] = m
	}
	m[line] += n
}

// backupCmp orders lines holding as many slots for a home: most headroom
// (lowest utilization) first, then lowest id.
func backupCmp(a, b *lines.Line) int {
	if c := utilCmp(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// clone copies the slot counts, so a batch can pick its backups again.
func (b backupSlots) clone() backupSlots {
	out := make(backupSlots, len(b))
	for home, m := range b {
		out[home] = maps.Clone(m)
	}
	return out
}

// pickBackups chooses n backups for a user of home, excluding exclude:
// healthy serving lines holding the fewest slots for home's users, then the
// most headroom, then the lowest id. It books the slots.
func (p *planner) pickBackups(home int64, n int, slots backupSlots, exclude ...int64) []*lines.Line {
	if n <= 0 {
		return nil
	}
	held := slots[home]
	order := func(a, b *lines.Line) int {
		if c := cmp.Compare(held[a.ID], held[b.ID]); c != 0 {
			return c
		}
		return backupCmp(a, b)
	}
	// The first n of the order in one pass, not a sort of the pool per
	// user: moving the 10,000 users of a line off it sorted 10,000 lines
	// 10,000 times (about half a minute under the pool lock).
	best := make([]*lines.Line, 0, n)
	for _, l := range p.lines {
		if len(best) == n && order(l, best[n-1]) >= 0 {
			continue
		}
		if l.ID == home || slices.Contains(exclude, l.ID) || !l.Healthy() {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, l, order)
		if len(best) == n {
			best = best[:n-1]
		}
		best = slices.Insert(best, i, l)
	}
	for _, c := range best {
		slots.add(home, c.ID, 1)
	}
	return best
}
