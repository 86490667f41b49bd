package lines

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/store"
)

// usageWeek is the longest window line_usage holds: the ObservedDays the
// usage figure reads from it (LineUsageWeek).
const usageWeek = ObservedDays * 24 * time.Hour

// Rollup keeps line_usage: each line's inbound, outbound and signups over
// the last 24 hours and 7 days, which the capacity plan reads instead of
// summing a week of minute rows and users for every line. It runs as a
// scheduled job (line_usage), so the send path does no extra work for it.
//
// A run moves the live totals' windows from where they end (as_of) to the
// last minute that closed at least Lag ago: it adds the minute rows and
// signups between the two ends and takes out those between the two ends a
// day and a week back. That reads O(lines × minutes since the last run)
// rows, by the minute and created_at indexes. Lag keeps the minutes still
// being written out of it: a send is counted in its admission minute and,
// when Linq refuses it, given back to that minute within a request timeout;
// inbound is counted in the minute Linq stamped the event, normally seconds
// before it arrives.
//
// A change the fold did not see (an inbound event processed after Lag, as
// after a webhook backlog; a user moved to another home line; minute rows
// pruned before they left the week, after the job stopped for a day; rows
// written behind the job's back) would stay in the totals: each minute is
// taken out at the value it has then, not the one that was added. So a run
// also sums the week again, RebuildStep of it, into the next generation of
// totals (minutes in order, as they lie in the table: a line at a time
// would read each of its minute rows from another page), which replaces the
// live one once it has caught up with it, after about 7 days ÷ RebuildStep
// runs (three hours at the defaults). A change is in the figures at the
// latest when the rebuild after the one under way has swapped in.
type Rollup struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cfg    RollupConfig
	q      *store.Queries
}

// RollupConfig tunes the line_usage job; DefaultRollupConfig holds the
// defaults. Steps are whole minutes, at least one.
type RollupConfig struct {
	// Lag is how long after a minute closes it is folded.
	Lag time.Duration
	// MaxStep bounds how far one run moves the live windows, so that a run
	// after a long stop stays short; the next runs catch up.
	MaxStep time.Duration
	// RebuildStep is how much of the week one run sums into the next
	// generation.
	RebuildStep time.Duration
}

// DefaultRollupConfig: two minutes of lag, at most an hour a run for the
// live totals and the rebuild each (at 10,000 busy lines, about 600,000
// minute rows an hour of step).
func DefaultRollupConfig() RollupConfig {
	return RollupConfig{Lag: 2 * time.Minute, MaxStep: time.Hour, RebuildStep: time.Hour}
}

// NewRollup builds a Rollup.
func NewRollup(pool *pgxpool.Pool, logger *slog.Logger, cfg RollupConfig) *Rollup {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.MaxStep = max(cfg.MaxStep.Truncate(time.Minute), time.Minute)
	cfg.RebuildStep = max(cfg.RebuildStep.Truncate(time.Minute), time.Minute)
	return &Rollup{pool: pool, logger: logger, cfg: cfg, q: store.New()}
}

// RollupRun is what one run did.
type RollupRun struct {
	// From and AsOf are where the live windows ended before and after.
	From, AsOf time.Time
	// Folded is how many lines the live fold changed.
	Folded int64
	// RebuildAsOf is where the rebuild's windows end (zero once swapped in).
	RebuildAsOf time.Time
	// Swapped: the rebuild caught up and is the live generation now;
	// Corrected is how many lines it found the fold had wrong.
	Swapped   bool
	Corrected int64
	// Reset: the clock was behind the live windows' end (only a clock set
	// back does that), and the week was summed again at once as of now.
	Reset bool
}

// Run is one run of the line_usage job, in one transaction: the fold's row
// lock keeps two runs from folding the same minutes twice.
func (r *Rollup) Run(ctx context.Context) (RollupRun, error) {
	run, err := store.WithTxV(ctx, r.pool, func(ctx context.Context, tx pgx.Tx) (RollupRun, error) {
		st, err := r.q.LineUsageFoldLock(ctx, tx, store.Interval(r.cfg.Lag))
		if err != nil {
			return RollupRun{}, fmt.Errorf("lock line usage fold: %w", err)
		}
		if err := r.q.LineUsageFoldNoJIT(ctx, tx); err != nil {
			return RollupRun{}, fmt.Errorf("line usage fold settings: %w", err)
		}
		if st.Target.Before(st.AsOf) {
			return r.reset(ctx, tx, st)
		}
		run := RollupRun{From: st.AsOf, AsOf: st.AsOf}
		gen, next := st.Generation, st.Generation+1
		if st.Target.After(st.AsOf) {
			run.AsOf = earlier(st.Target, st.AsOf.Add(r.cfg.MaxStep))
			if run.Folded, err = r.fold(ctx, tx, gen, st.AsOf, run.AsOf, nil); err != nil {
				return RollupRun{}, err
			}
		}

		// The rebuild: from a week before the live end, where it starts
		// (the next generation holds no rows then), up to the live end.
		floor, at := st.RebuildFloor, st.RebuildAsOf
		if floor == nil {
			start := run.AsOf.Add(-usageWeek)
			floor, at = &start, &start
		}
		run.RebuildAsOf = earlier(run.AsOf, at.Add(r.cfg.RebuildStep))
		if run.RebuildAsOf.After(*at) {
			if _, err := r.fold(ctx, tx, next, *at, run.RebuildAsOf, floor); err != nil {
				return RollupRun{}, err
			}
		}
		set := store.LineUsageFoldSetParams{Generation: gen, AsOf: run.AsOf, RebuildFloor: floor, RebuildAsOf: &run.RebuildAsOf}
		if run.RebuildAsOf.Equal(run.AsOf) {
			// Caught up, and a whole week after its floor: it holds what
			// the live totals should.
			if run.Corrected, err = r.q.LineUsageDiffer(ctx, tx, store.LineUsageDifferParams{OldGeneration: gen, NewGeneration: next}); err != nil {
				return RollupRun{}, fmt.Errorf("compare line usage generations: %w", err)
			}
			if _, err := r.q.LineUsageDrop(ctx, tx, gen); err != nil {
				return RollupRun{}, fmt.Errorf("drop line usage generation: %w", err)
			}
			run.Swapped, run.RebuildAsOf = true, time.Time{}
			set = store.LineUsageFoldSetParams{Generation: next, AsOf: run.AsOf}
		}
		if err := r.q.LineUsageFoldSet(ctx, tx, set); err != nil {
			return RollupRun{}, fmt.Errorf("advance line usage fold: %w", err)
		}
		return run, nil
	})
	if err != nil {
		return RollupRun{}, err
	}
	if run.Corrected > 0 || run.Reset {
		r.logger.InfoContext(ctx, "line usage corrected", slog.Time("as_of", run.AsOf),
			slog.Int64("lines", run.Corrected), slog.Bool("reset", run.Reset))
	}
	return run, nil
}

// reset sums the week up to the target into a new generation at once and
// makes it the live one (a rebuild in progress is dropped).
func (r *Rollup) reset(ctx context.Context, tx pgx.Tx, st store.LineUsageFoldLockRow) (RollupRun, error) {
	run := RollupRun{From: st.AsOf, AsOf: st.Target, Reset: true}
	next := st.Generation + 1
	for _, g := range []int64{st.Generation, next} {
		if _, err := r.q.LineUsageDrop(ctx, tx, g); err != nil {
			return RollupRun{}, fmt.Errorf("drop line usage generation: %w", err)
		}
	}
	floor := st.Target.Add(-usageWeek)
	if _, err := r.fold(ctx, tx, next, floor, st.Target, &floor); err != nil {
		return RollupRun{}, err
	}
	if err := r.q.LineUsageFoldSet(ctx, tx, store.LineUsageFoldSetParams{Generation: next, AsOf: st.Target}); err != nil {
		return RollupRun{}, fmt.Errorf("reset line usage fold: %w", err)
	}
	return run, nil
}

func (r *Rollup) fold(ctx context.Context, tx pgx.Tx, gen int64, from, to time.Time, floor *time.Time) (int64, error) {
	n, err := r.q.LineUsageFold(ctx, tx, store.LineUsageFoldParams{Generation: gen, OldEnd: from, NewEnd: to, Floor: floor})
	if err != nil {
		return 0, fmt.Errorf("fold line usage (generation %d): %w", gen, err)
	}
	return n, nil
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
