package lines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// PoolLockKey is the Postgres advisory lock (transaction-scoped) that
// serialises every change of line admin state, user counts and users' lines
// across replicas. Signups hold it shared (they lock the lines they write
// and exclude each other row by row); everything else holds it exclusive.
var PoolLockKey = store.AdvisoryKey("linegate.line_pool")

// RampWindow is the span of the per-line signup ramp.
const RampWindow = time.Hour

// Observed usage replaces the configured messages per user per day only when
// the records cover a whole window of ObservedDays and hold at least
// ObservedMinMessages in it: less traffic says more about who signed up
// yesterday than about steady use.
const (
	ObservedDays        = 7
	ObservedMinMessages = 1000
)

// Config tunes the pool. Every field is used as given: 0 means 0 (the
// defaults live in internal/config); DefaultConfig holds them for tests.
type Config struct {
	// Policy is the line policy (default budget, warm-up, reply reserve,
	// pacing), the same the send path admits with.
	Policy
	Headroom          float64 // share of the budget kept free
	MsgsPerUserPerDay float64 // until enough traffic is recorded
	SignupRampPerHour int     // new users per line per hour
	// UsageCacheTTL is how long an observed usage figure is reused; the
	// 7-day sum is too costly for every signup.
	UsageCacheTTL time.Duration
	Now           func() time.Time
}

// DefaultConfig is the configuration's defaults.
func DefaultConfig() Config {
	return Config{Policy: DefaultPolicy(), Headroom: 0.15, MsgsPerUserPerDay: 20, SignupRampPerHour: 200,
		UsageCacheTTL: 5 * time.Minute, Now: time.Now}
}

// PhoneNumberLister is the part of the Linq client the sync needs.
type PhoneNumberLister interface {
	ListPhoneNumbers(ctx context.Context) (*linq.ListPhoneNumbersResponse, error)
}

// Service manages the pool.
type Service struct {
	pool   *pgxpool.Pool
	linq   PhoneNumberLister
	logger *slog.Logger
	cfg    Config
	q      *store.Queries

	policy []byte // line_policy's settings

	usageMu      sync.Mutex
	usage        Usage
	usageExpires time.Time
}

// New builds a Service. linqClient may be nil when no sync is wanted.
func New(pool *pgxpool.Pool, linqClient PhoneNumberLister, logger *slog.Logger, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, linq: linqClient, logger: logger, cfg: cfg, q: store.New(), policy: cfg.settingsJSON()}
}

// Config returns the configuration.
func (s *Service) Config() Config { return s.cfg }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// Usage is the messages-per-user-per-day figure capacity is planned with,
// and where it came from.
type Usage struct {
	PerUserPerDay float64 `json:"msgs_per_user_per_day"`
	// Source is "config" or "observed".
	Source string `json:"source"`
	// Messages, Users and UserDays are the observed window's figures (also
	// when the configured value is used, to show how far from "enough" it
	// is): UserDays counts each user on a line for the days of the window
	// since their signup.
	Messages int64   `json:"observed_messages_7d"`
	Users    int64   `json:"observed_users"`
	UserDays float64 `json:"observed_user_days"`
}

// MsgsPerUserPerDay is the one place capacity reads usage from: the
// observed 7-day average (inbound + outbound in line_volume over the last
// ObservedDays ÷ the user-days in those days) once the records cover the
// whole window and hold at least ObservedMinMessages, else the configured
// figure. A user counts only for the days since their signup: dividing by
// today's users × ObservedDays would count last night's signups as a week
// of traffic, so while the pool grows the figure would read low and every
// cap high, until the lines ran into their budgets. The result is cached
// for UsageCacheTTL.
func (s *Service) MsgsPerUserPerDay(ctx context.Context) (Usage, error) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	now := s.cfg.Now()
	if now.Before(s.usageExpires) {
		return s.usage, nil
	}
	t, err := s.observedTraffic(ctx, now)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{PerUserPerDay: s.cfg.MsgsPerUserPerDay, Source: "config", Messages: t.Messages, Users: t.Users, UserDays: t.UserDays}
	if t.Covered && t.Messages >= ObservedMinMessages && t.UserDays > 0 {
		u.PerUserPerDay = float64(t.Messages) / t.UserDays
		u.Source = "observed"
	}
	s.usage, s.usageExpires = u, now.Add(s.cfg.UsageCacheTTL)
	return u, nil
}

// usageFresh is how recently the line_usage job must have run for the usage
// figure to read its totals (it runs every minute).
const usageFresh = 5 * time.Minute

// traffic is the pool's observed window: its messages, whether the records
// cover it, and the users on lines with the days they existed in it.
type traffic struct {
	Messages int64
	Covered  bool
	Users    int64
	UserDays float64
}

// observedTraffic reads the pool's last ObservedDays of traffic from the
// line_usage totals, one row a line, while the job keeps them; else (it has
// not run lately, or not yet) by summing the minute rows, which at fleet
// scale takes seconds. The user-days are counted over the same window
// (ending at the totals' as_of, or now), in a query of their own so that
// the users' created_at bound is a parameter the planner sees.
func (s *Service) observedTraffic(ctx context.Context, now time.Time) (traffic, error) {
	window := ObservedDays * 24 * time.Hour
	var t traffic
	u, err := s.q.LineUsageWeek(ctx, s.pool)
	switch {
	case err == nil && u.RanAt != nil && !u.AsOf.After(u.Now) && u.Now.Sub(*u.RanAt) <= usageFresh:
		t = traffic{Messages: u.Messages, Covered: u.Covered}
		now = u.AsOf
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return traffic{}, fmt.Errorf("read line usage: %w", err)
	default:
		row, err := s.q.LineVolumeWindow(ctx, s.pool, store.LineVolumeWindowParams{
			Since:         now.Add(-window),
			CoveredBefore: now.Add(-window),
		})
		if err != nil {
			return traffic{}, fmt.Errorf("read line volume: %w", err)
		}
		t = traffic{Messages: row.Messages, Covered: row.Covered}
	}
	days, err := s.q.LineUserDays(ctx, s.pool, store.LineUserDaysParams{Since: now.Add(-window), Until: now})
	if err != nil {
		return traffic{}, fmt.Errorf("read user-days: %w", err)
	}
	t.Users, t.UserDays = days.Users, days.UserDays
	return t, nil
}

// Snapshot reads every line with its policy (line_policy, on the
// database's clock) and works out its user cap with msgsPerUserPerDay. db
// is the pool or a transaction.
func (s *Service) Snapshot(ctx context.Context, db store.DBTX, msgsPerUserPerDay float64) ([]Line, error) {
	rows, err := s.q.LineSnapshot(ctx, db, store.LineSnapshotParams{WindowStart: s.rampWindowStart(), Settings: s.policy})
	if err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	return s.toLines(rows, msgsPerUserPerDay), nil
}

// SnapshotOf is Snapshot for the lines of ids (in id order; ids that name
// no line are left out).
func (s *Service) SnapshotOf(ctx context.Context, db store.DBTX, msgsPerUserPerDay float64, ids []int64) ([]Line, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.q.LineSnapshotIDs(ctx, db, store.LineSnapshotIDsParams{WindowStart: s.rampWindowStart(), Settings: s.policy, Ids: ids})
	if err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	out := make([]store.LineSnapshotRow, len(rows))
	for i, r := range rows {
		out[i] = store.LineSnapshotRow(r)
	}
	return s.toLines(out, msgsPerUserPerDay), nil
}

// rampWindowStart is the first signup bucket the hourly ramp counts.
// Buckets are whole minutes, and the one an hour back is still counted,
// so the window errs on the safe side by up to a minute.
func (s *Service) rampWindowStart() time.Time {
	return s.cfg.Now().Add(-RampWindow).Truncate(time.Minute)
}

func (s *Service) toLines(rows []store.LineSnapshotRow, msgsPerUserPerDay float64) []Line {
	out := make([]Line, 0, len(rows))
	for _, r := range rows {
		l := Line{
			ID: r.ID, Number: r.Number, Reputation: r.Reputation, ServiceStatus: r.ServiceStatus,
			AdminState: r.AdminState, IneligibleAt: r.IneligibleAt, MissingAt: r.LinqMissingAt,
			WarmupStartedAt: r.WarmupStartedAt, UserCount: int(r.UserCount), LastAssignedAt: r.LastAssignedAt,
			StatusChangedAt: r.StatusChangedAt, SyncedAt: r.SyncedAt,
			SignupsLastHour: int(r.SignupsInWindow), RampLimit: s.cfg.SignupRampPerHour,
			RampFreesAt: r.OldestSignupMinute.Add(RampWindow + time.Minute),
			HealthState: r.HealthState, HeldAt: r.HeldAt,
			HealthSince: r.HealthSince, HealthConfirmedAt: r.HealthConfirmedAt, RecoveryAt: r.RecoveryAt,
			MaySend: r.MaySend, MaySendProactive: r.MaySendProactive, MaySignup: r.MaySignup,
			SendWhy: r.SendWhy, SignupWhy: r.SignupWhy,
			Budget: int(r.Budget), WarmupFactor: r.WarmupFactor,
			EffectiveBudget: int(r.EffectiveBudget), ProactiveBudget: int(r.ProactiveBudget),
		}
		if r.LinqID != nil {
			l.LinqID = *r.LinqID
		}
		if r.HealthCause != nil {
			l.HealthCause = *r.HealthCause
		}
		if r.BudgetOverride != nil {
			b := int(*r.BudgetOverride)
			l.BudgetOverride = &b
		}
		l.Cap = UserCap(l.EffectiveBudget, s.cfg.Headroom, msgsPerUserPerDay)
		out = append(out, l)
	}
	return out
}

// List is Snapshot on the pool with the current usage figure.
func (s *Service) List(ctx context.Context) ([]Line, Usage, error) {
	u, err := s.MsgsPerUserPerDay(ctx)
	if err != nil {
		return nil, Usage{}, err
	}
	ls, err := s.Snapshot(ctx, s.pool, u.PerUserPerDay)
	return ls, u, err
}

// Get returns one line.
func (s *Service) Get(ctx context.Context, id int64) (Line, error) {
	u, err := s.MsgsPerUserPerDay(ctx)
	if err != nil {
		return Line{}, err
	}
	ls, err := s.SnapshotOf(ctx, s.pool, u.PerUserPerDay, []int64{id})
	if err != nil {
		return Line{}, err
	}
	if len(ls) == 0 {
		return Line{}, NotFound(id)
	}
	return ls[0], nil
}

// NotFound is the 404 for a line id that does not exist.
func NotFound(id int64) error {
	return apperr.New(apperr.NotFound, "line_not_found", fmt.Sprintf("no line with id %d", id))
}

// Update is what ops may change on a line. Nil fields stay as they are;
// SetBudget with a nil BudgetOverride clears the override.
type Update struct {
	AdminState     *string
	SetBudget      bool
	BudgetOverride *int
}

// MaxBudget bounds a budget override: far above any Linq guideline, low
// enough that capacity arithmetic stays exact.
const MaxBudget = 1_000_000

// Update changes a line's admin state and budget override under
// PoolLockKey, so no signup that started before it returns can still land on
// a line it drained or retired. Moving the users of a retired line is the
// router's job (router.Service.MoveUsersOff).
func (s *Service) Update(ctx context.Context, id int64, u Update) (Line, error) {
	err := store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.q.LinePoolLock(ctx, tx, PoolLockKey); err != nil {
			return fmt.Errorf("lock line pool: %w", err)
		}
		return s.UpdateTx(ctx, tx, id, u)
	})
	if err != nil {
		return Line{}, err
	}
	if u.AdminState != nil {
		s.logger.InfoContext(ctx, "line admin state set", slog.Int64("line_id", id), slog.String("admin_state", *u.AdminState))
	}
	return s.Get(ctx, id)
}

// UpdateTx is Update inside tx, which must hold PoolLockKey; it is how the
// router retires a line in the transaction that moves its users.
func (s *Service) UpdateTx(ctx context.Context, tx pgx.Tx, id int64, u Update) error {
	if u.AdminState != nil {
		switch *u.AdminState {
		case AdminActive, AdminDraining, AdminRetired:
		default:
			return apperr.Field("admin_state", "must be active, draining or retired")
		}
	}
	var override *int32
	if u.SetBudget && u.BudgetOverride != nil {
		if *u.BudgetOverride <= 0 || *u.BudgetOverride > MaxBudget {
			return apperr.Field("budget_override", fmt.Sprintf("must be between 1 and %d, or null", MaxBudget))
		}
		v := int32(*u.BudgetOverride) //nolint:gosec // bounded above
		override = &v
	}
	_, err := s.q.LineUpdateAdmin(ctx, tx, store.LineUpdateAdminParams{
		AdminState: u.AdminState, SetBudget: u.SetBudget, BudgetOverride: override, Now: s.cfg.Now(), ID: id,
	})
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return NotFound(id)
	}
	if err != nil {
		return fmt.Errorf("update line: %w", err)
	}
	return nil
}

// HasLines reports whether the pool holds any line.
func (s *Service) HasLines(ctx context.Context) (bool, error) {
	ok, err := s.q.LineExists(ctx, s.pool)
	if err != nil {
		return false, fmt.Errorf("check for lines: %w", err)
	}
	return ok, nil
}

// SyncResult summarises a sync.
type SyncResult struct {
	Listed  int      `json:"listed"`
	Added   []string `json:"added"`
	Missing []string `json:"missing"`
	Skipped []string `json:"skipped"`
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Sync reads Linq's line list, adds new lines (their warm-up starts now),
// refreshes Linq ids and reputations, and marks lines Linq no longer lists
// as missing (they take no new users). An empty list never marks anything
// missing: that is far likelier a Linq glitch than a pool without lines. It
// also prunes signup-ramp buckets that left the window.
func (s *Service) Sync(ctx context.Context) (SyncResult, error) {
	if s.linq == nil {
		return SyncResult{}, apperr.New(apperr.Unavailable, "linq_unconfigured", "no Linq client is configured")
	}
	// Signals are stamped with when they were asked for (see the health
	// poll): Linq's answer is no older than this.
	listedAt := s.cfg.Now().Truncate(time.Microsecond)
	resp, err := s.linq.ListPhoneNumbers(ctx)
	if err != nil {
		// Linq's failure, not the database's: a refused connection to Linq
		// must not read as Postgres being down.
		return SyncResult{}, apperr.New(apperr.BadGateway, "upstream_unavailable",
			"Linq did not answer its line listing; nothing changed, the scheduled sync tries again").
			Wrap(fmt.Errorf("list linq phone numbers: %w", err))
	}
	res := SyncResult{Added: []string{}, Missing: []string{}, Skipped: []string{}}
	var numbers, ids, reps []string
	seen := map[string]bool{}
	for _, p := range resp.PhoneNumbers {
		if !e164.MatchString(p.PhoneNumber) || seen[p.PhoneNumber] {
			res.Skipped = append(res.Skipped, p.PhoneNumber)
			continue
		}
		seen[p.PhoneNumber] = true
		rep, _ := ReadReputation(p.ReputationStatus())
		numbers, ids, reps = append(numbers, p.PhoneNumber), append(ids, p.ID), append(reps, rep)
	}
	res.Listed = len(numbers)
	now := s.cfg.Now()
	err = store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		// Under the pool lock: the upsert touches many lines rows, which
		// signups update too, in an order of their own.
		if err := s.q.LinePoolLock(ctx, tx, PoolLockKey); err != nil {
			return fmt.Errorf("lock line pool: %w", err)
		}
		rows, err := s.q.LineUpsertFromLinq(ctx, tx, store.LineUpsertFromLinqParams{
			Now: now, ListedAt: listedAt, Numbers: numbers, LinqIds: ids, Reputations: reps,
		})
		if err != nil {
			return fmt.Errorf("upsert lines: %w", err)
		}
		for _, r := range rows {
			if r.Inserted {
				res.Added = append(res.Added, r.Number)
			}
		}
		if len(numbers) > 0 {
			gone, err := s.q.LineMarkMissing(ctx, tx, store.LineMarkMissingParams{Now: now, ListedAt: listedAt, Numbers: numbers})
			if err != nil {
				return fmt.Errorf("mark missing lines: %w", err)
			}
			for _, g := range gone {
				res.Missing = append(res.Missing, g.Number)
			}
		}
		if _, err := s.q.LineSignupsPrune(ctx, tx, now.Add(-2*RampWindow)); err != nil {
			return fmt.Errorf("prune signup buckets: %w", err)
		}
		return nil
	})
	if err != nil {
		return SyncResult{}, err
	}
	if len(numbers) == 0 {
		s.logger.WarnContext(ctx, "linq listed no lines; nothing marked missing")
	}
	for _, n := range res.Added {
		s.logger.InfoContext(ctx, "line added from linq", slog.String("number", n))
	}
	for _, n := range res.Missing {
		s.logger.WarnContext(ctx, "line no longer listed by linq", slog.String("number", n))
	}
	return res, nil
}
