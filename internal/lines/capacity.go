package lines

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// epsilon absorbs float error so that e.g. 7000 × 0.85 ÷ 20 = 297.5 floors
// to 297 and an exact 170.0 never floors to 169.
const epsilon = 1e-9

// UserCap is how many users a line with effectiveBudget (line_policy's
// effective budget: override or default, after warm-up) may carry, keeping
// headroom free, when each user sends and receives msgsPerUserPerDay.
func UserCap(effectiveBudget int, headroom, msgsPerUserPerDay float64) int {
	if msgsPerUserPerDay <= 0 {
		return 0
	}
	return max(int(math.Floor(float64(effectiveBudget)*(1-headroom)/msgsPerUserPerDay+epsilon)), 0)
}

// ReciprocityTarget is Linq's inbound : outbound target of 1 : 2; a line
// whose 7-day ratio stays below it looks like a broadcaster.
const ReciprocityTarget = 0.5

// PlanHorizonDays is how far ahead the capacity plan sizes the pool.
const PlanHorizonDays = 30

// LineCapacity is one line in the capacity plan.
type LineCapacity struct {
	LineID      int64  `json:"line_id"`
	Number      string `json:"number"`
	AdminState  string `json:"admin_state"`
	HealthState string `json:"health_state"`
	// Usable lines are active and allowed by line_policy to take users:
	// the ones whose room counts.
	Usable bool `json:"usable"`
	// Users against Cap (UserCap of the effective budget); WarmedCap is the
	// cap once warm-up is over.
	Users     int `json:"users"`
	Cap       int `json:"cap"`
	WarmedCap int `json:"warmed_cap"`
	// Budget is the override or the default, EffectiveBudget that after
	// warm-up (WarmupFactor); both line_policy's.
	Budget          int     `json:"budget"`
	WarmupFactor    float64 `json:"warmup_factor"`
	EffectiveBudget int     `json:"effective_budget"`
	// The rolling 24 h the budget counts, and its share of the budget.
	Inbound24h  int64   `json:"inbound_24h"`
	Outbound24h int64   `json:"outbound_24h"`
	Volume24h   int64   `json:"volume_24h"`
	BudgetUsed  float64 `json:"budget_used"`
	Inbound7d   int64   `json:"inbound_7d"`
	Outbound7d  int64   `json:"outbound_7d"`
	// Reciprocity is inbound ÷ outbound over 7 days (nil without outbound).
	Reciprocity *float64 `json:"reciprocity"`
	Signups24h  int      `json:"signups_24h"`
	Signups7d   int      `json:"signups_7d"`
}

// PoolCapacity is the pool's side of the capacity plan.
type PoolCapacity struct {
	Lines int `json:"lines"`
	// Users, capacity, room and fill of the usable lines, and the users
	// elsewhere: the ops line list's summary answers with the same.
	PoolFill
	Headroom float64 `json:"headroom_target"`
	// WarmedCapacity is the usable lines' caps once warmed up.
	WarmedCapacity int      `json:"warmed_capacity"`
	Volume24h      int64    `json:"volume_24h"`
	Budget24h      int64    `json:"budget_24h"`
	Inbound7d      int64    `json:"inbound_7d"`
	Outbound7d     int64    `json:"outbound_7d"`
	Reciprocity    *float64 `json:"reciprocity"`
	Signups24h     int      `json:"signups_24h"`
	Signups7d      int      `json:"signups_7d"`
	SignupsPerDay  float64  `json:"signups_per_day"`
	// DaysUntilFull is Room at the 7-day signup rate (nil with no signups).
	DaysUntilFull *float64 `json:"days_until_full"`
	// ProjectedUsers is every user (Users and UsersElsewhere: a draining
	// line's users move when it retires, a down line's when it fails over)
	// plus HorizonDays of signups at that rate; LinesToAdd how many new
	// lines at NewLineCap (a warmed-up line at the default budget) keep
	// them under the caps of the usable lines once warmed up, so the
	// headroom stays free (-1: a new line would take no users). It counts
	// on warm-up to come, so it can be 0 while the pool is full today.
	HorizonDays    int `json:"horizon_days"`
	ProjectedUsers int `json:"projected_users"`
	LinesToAdd     int `json:"lines_to_add"`
	NewLineCap     int `json:"new_line_cap"`
	// LinesToAddNow is how many new lines at NewLineCapNow (line_policy's
	// budget for a line added now, at the start of its warm-up) fit every
	// user of today under today's caps (-1: a new line would take no
	// users).
	LinesToAddNow int `json:"lines_to_add_now"`
	NewLineCapNow int `json:"new_line_cap_now"`
}

// CapacityPlan is the pool's capacity now and for the next HorizonDays.
type CapacityPlan struct {
	Usage Usage `json:"usage"`
	// AsOf is where the rolling windows of volume and signups end: the
	// minute start the line_usage job has folded up to, three to five
	// minutes ago while it runs every minute (Rollup), or now when the
	// figures are summed directly.
	AsOf              time.Time      `json:"as_of"`
	ReciprocityTarget float64        `json:"reciprocity_target"`
	Pool              PoolCapacity   `json:"pool"`
	Lines             []LineCapacity `json:"lines"`
}

// Capacity is the capacity plan: the lines as assignment sees them (List:
// line_policy's budgets and UserCap with the usage figure) beside their
// volume and signups as of AsOf.
func (s *Service) Capacity(ctx context.Context) (CapacityPlan, error) {
	ls, usage, err := s.List(ctx)
	if err != nil {
		return CapacityPlan{}, err
	}
	return s.CapacityOf(ctx, ls, usage)
}

// CapacityOf is Capacity for the lines and usage figure List gave, so that
// a caller that needs the lines for more (the single-failure check) reads
// them once: at 10,000 lines a read is most of the plan's time.
func (s *Service) CapacityOf(ctx context.Context, ls []Line, usage Usage) (CapacityPlan, error) {
	use, asOf, err := s.capacityUse(ctx)
	if err != nil {
		return CapacityPlan{}, err
	}
	// A new line's budget today from line_policy itself, as assignment
	// will see the line: no second warm-up formula here.
	fresh, err := s.q.LineCapacityNewLine(ctx, s.pool, s.policy)
	if err != nil {
		return CapacityPlan{}, fmt.Errorf("read a new line's policy: %w", err)
	}
	newBudgetNow := 0
	if fresh.MaySignup {
		newBudgetNow = int(fresh.EffectiveBudget)
	}
	p := planCapacity(ls, use, usage, s.cfg, newBudgetNow)
	p.AsOf = asOf
	return p, nil
}

// lineUse is a line's volume and signups in the plan's windows.
type lineUse struct {
	Inbound24h, Outbound24h, Inbound7d, Outbound7d, Signups24h, Signups7d int64
}

// capacityUse reads every line's volume and signups from the totals the
// line_usage job keeps (Rollup): one row a line, whatever the traffic. When
// the database clock is behind their end (only a clock set back does that,
// as tests do), they describe no moment yet, and the figures are summed
// from the minute rows and users as of now instead.
func (s *Service) capacityUse(ctx context.Context) (map[int64]lineUse, time.Time, error) {
	st, err := s.q.LineUsageAsOf(ctx, s.pool)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read line usage fold: %w", err)
	}
	if st.AsOf.After(st.Now) {
		rows, err := s.q.LineCapacityUseAt(ctx, s.pool, st.Now)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("sum line volume and signups: %w", err)
		}
		use := make(map[int64]lineUse, len(rows))
		for _, r := range rows {
			use[r.LineID] = lineUse{r.Inbound24h, r.Outbound24h, r.Inbound7d, r.Outbound7d, r.Signups24h, r.Signups7d}
		}
		return use, st.Now, nil
	}
	rows, err := s.q.LineCapacityUse(ctx, s.pool)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read line usage: %w", err)
	}
	use, asOf := make(map[int64]lineUse, len(rows)), st.AsOf
	for _, r := range rows {
		// The rows' own as_of: the job may have moved on since st.
		use[r.LineID], asOf = lineUse{r.Inbound24h, r.Outbound24h, r.Inbound7d, r.Outbound7d, r.Signups24h, r.Signups7d}, r.AsOf
	}
	return use, asOf, nil
}

// planCapacity is the plan of ls; newBudgetNow is line_policy's effective
// budget for a line added now.
func planCapacity(ls []Line, use map[int64]lineUse, usage Usage, cfg Config, newBudgetNow int) CapacityPlan {
	p := CapacityPlan{Usage: usage, ReciprocityTarget: ReciprocityTarget, Lines: make([]LineCapacity, 0, len(ls))}
	pool := PoolCapacity{Lines: len(ls), PoolFill: FillOf(ls), Headroom: cfg.Headroom, HorizonDays: PlanHorizonDays,
		NewLineCap:    UserCap(cfg.DefaultBudget, cfg.Headroom, usage.PerUserPerDay),
		NewLineCapNow: UserCap(newBudgetNow, cfg.Headroom, usage.PerUserPerDay)}
	for _, l := range ls {
		u := use[l.ID]
		c := LineCapacity{
			LineID: l.ID, Number: l.Number, AdminState: l.AdminState, HealthState: l.HealthState,
			Usable: l.MaySignup,
			Users:  l.UserCount, Cap: l.Cap, WarmedCap: UserCap(l.Budget, cfg.Headroom, usage.PerUserPerDay),
			Budget: l.Budget, WarmupFactor: l.WarmupFactor, EffectiveBudget: l.EffectiveBudget,
			Inbound24h: u.Inbound24h, Outbound24h: u.Outbound24h, Volume24h: u.Inbound24h + u.Outbound24h,
			Inbound7d: u.Inbound7d, Outbound7d: u.Outbound7d, Reciprocity: ratio(u.Inbound7d, u.Outbound7d),
			Signups24h: int(u.Signups24h), Signups7d: int(u.Signups7d),
		}
		if c.EffectiveBudget > 0 {
			c.BudgetUsed = float64(c.Volume24h) / float64(c.EffectiveBudget)
		}
		p.Lines = append(p.Lines, c)

		pool.Volume24h += c.Volume24h
		pool.Inbound7d += c.Inbound7d
		pool.Outbound7d += c.Outbound7d
		pool.Signups24h += c.Signups24h
		pool.Signups7d += c.Signups7d
		if l.AdminState != AdminRetired {
			pool.Budget24h += int64(c.EffectiveBudget)
		}
		if c.Usable {
			pool.WarmedCapacity += c.WarmedCap
		}
	}
	pool.Reciprocity = ratio(pool.Inbound7d, pool.Outbound7d)
	pool.SignupsPerDay = float64(pool.Signups7d) / ObservedDays
	if pool.SignupsPerDay > 0 {
		days := float64(pool.Room) / pool.SignupsPerDay
		pool.DaysUntilFull = &days
	}
	everyone := pool.Users + pool.UsersElsewhere
	pool.ProjectedUsers = everyone + int(math.Ceil(pool.SignupsPerDay*PlanHorizonDays-epsilon))
	pool.LinesToAdd = linesFor(pool.ProjectedUsers-pool.WarmedCapacity, pool.NewLineCap)
	pool.LinesToAddNow = linesFor(everyone-pool.Capacity, pool.NewLineCapNow)
	p.Pool = pool
	return p
}

// linesFor is how many lines of lineCap take short users (0 when none are
// short, -1 when a line would take none).
func linesFor(short, lineCap int) int {
	switch {
	case short <= 0:
		return 0
	case lineCap <= 0:
		return -1
	}
	return (short + lineCap - 1) / lineCap
}

func ratio(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}

// VolumePoint is one bucket of a line's volume series.
type VolumePoint struct {
	Start    time.Time `json:"start"`
	Inbound  int64     `json:"inbound"`
	Outbound int64     `json:"outbound"`
}

// Volume is a line's inbound and outbound messages over span in buckets
// of bucket, on the database clock (the budget's), oldest first.
func (s *Service) Volume(ctx context.Context, id int64, bucket, span time.Duration) ([]VolumePoint, error) {
	rows, err := s.q.LineVolumeSeries(ctx, s.pool, store.LineVolumeSeriesParams{
		LineID: id, BucketSeconds: int32(bucket / time.Second), SpanSeconds: int32(span / time.Second), //nolint:gosec // bounded by the caller
	})
	if err != nil {
		return nil, fmt.Errorf("read line volume series: %w", err)
	}
	if len(rows) == 0 {
		return nil, NotFound(id)
	}
	out := make([]VolumePoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, VolumePoint{Start: r.BucketStart, Inbound: r.Inbound, Outbound: r.Outbound})
	}
	return out, nil
}
