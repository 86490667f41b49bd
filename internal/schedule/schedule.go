// Package schedule runs Linegate's cron jobs so that each tick runs on
// exactly one replica. A tick first takes a Postgres session advisory lock
// for the job on a dedicated connection (so a job never overlaps itself
// across replicas), then claims the run in job_runs: the claim succeeds only
// when the previous run started more than half a schedule interval ago. The
// claim reads the database clock (lg_now), never the replica's, so replicas
// whose clocks disagree still agree on which tick has run. The lock is held
// for the run and released after. A job marked CatchUp also runs at start
// when no replica has started it within one whole interval.
package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"

	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/store"
)

// Job is one scheduled task.
type Job struct {
	Name string
	// Spec is a standard 5-field cron spec or a descriptor such as
	// "@every 5m".
	Spec string
	// Timeout bounds one run (default 1 min).
	Timeout time.Duration
	// CatchUp runs the job once when the runner starts if no replica has
	// started it within one whole interval (or ever): the cron's first tick
	// comes an interval after start, so a job on a long interval would
	// never run on replicas restarted more often than that.
	CatchUp bool
	Run     func(ctx context.Context) error
}

type entry struct {
	Job
	sched cron.Schedule
	key   int64
}

// Config tunes the runner.
type Config struct {
	// Now is the replica's clock. It only tells how far apart the ticks
	// around now are; whether a tick is still to run is decided on the
	// database clock.
	Now func() time.Time
}

// Runner runs jobs on a cron schedule.
type Runner struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	q       *store.Queries
	jobs    map[string]*entry
	order   []string

	mu     sync.Mutex
	cron   *cron.Cron
	cancel context.CancelFunc
	// catchUps are the runs Start began beside the cron; Stop waits for them.
	catchUps sync.WaitGroup
}

// New builds a Runner; every spec is parsed here, so a bad one fails start.
func New(pool *pgxpool.Pool, logger *slog.Logger, m *metrics.Metrics, cfg Config, jobs ...Job) (*Runner, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.New()
	}
	r := &Runner{pool: pool, logger: logger, metrics: m, cfg: cfg, q: store.New(), jobs: map[string]*entry{}}
	for _, j := range jobs {
		if j.Name == "" || j.Run == nil {
			return nil, errors.New("schedule: a job needs a name and a run function")
		}
		if _, dup := r.jobs[j.Name]; dup {
			return nil, fmt.Errorf("schedule: job %q listed twice", j.Name)
		}
		sched, err := cron.ParseStandard(j.Spec)
		if err != nil {
			return nil, fmt.Errorf("schedule: job %q: spec %q: %w", j.Name, j.Spec, err)
		}
		j.Timeout = cmp.Or(j.Timeout, time.Minute)
		r.jobs[j.Name] = &entry{Job: j, sched: sched, key: store.AdvisoryKey("linegate.job." + j.Name)}
		r.order = append(r.order, j.Name)
	}
	return r, nil
}

// Start runs the schedule in the background until Stop.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cron != nil {
		return errors.New("schedule: already started")
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := cron.New()
	for _, name := range r.order {
		e := r.jobs[name]
		c.Schedule(e.sched, cron.FuncJob(func() {
			if _, err := r.RunOnce(ctx, e.Name); err != nil && ctx.Err() == nil {
				r.logger.ErrorContext(ctx, "job failed", slog.String("job", e.Name), slog.Any("error", err))
			}
		}))
	}
	c.Start()
	r.cron, r.cancel = c, cancel
	for _, name := range r.order {
		e := r.jobs[name]
		if !e.CatchUp {
			continue
		}
		r.catchUps.Add(1)
		go func() {
			defer r.catchUps.Done()
			if _, err := r.run(ctx, e, interval(e.sched, r.cfg.Now())); err != nil && ctx.Err() == nil {
				r.logger.ErrorContext(ctx, "job failed", slog.String("job", e.Name), slog.Any("error", err))
			}
		}()
	}
	return nil
}

// Stop stops scheduling, cancels running jobs and waits for them. It is
// idempotent.
func (r *Runner) Stop() {
	r.mu.Lock()
	c, cancel := r.cron, r.cancel
	r.cron, r.cancel = nil, nil
	r.mu.Unlock()
	if c == nil {
		return
	}
	cancel()
	<-c.Stop().Done()
	r.catchUps.Wait()
}

// RunOnce is one tick of job name, exactly as the schedule runs it: it
// reports whether this replica ran the job (false when another replica holds
// it or already ran this tick) and the job's error.
func (r *Runner) RunOnce(ctx context.Context, name string) (bool, error) {
	e, ok := r.jobs[name]
	if !ok {
		return false, fmt.Errorf("schedule: no job %q", name)
	}
	return r.run(ctx, e, minGap(e.sched, r.cfg.Now()))
}

// run runs e unless a replica holds it or started it less than gap ago.
func (r *Runner) run(ctx context.Context, e *entry, gap time.Duration) (bool, error) {
	name := e.Name
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("schedule: acquire connection: %w", err)
	}
	defer conn.Release()
	db := conn.Conn()
	locked, err := r.q.JobTryLock(ctx, db, e.key)
	if err != nil {
		return false, fmt.Errorf("schedule: lock job %s: %w", name, err)
	}
	if !locked {
		return false, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := r.q.JobUnlock(uctx, db, e.key); err != nil {
			// A lock we cannot release must not go back to the pool.
			_ = conn.Conn().Close(uctx)
		}
	}()
	_, err = r.q.JobRunClaim(ctx, db, store.JobRunClaimParams{Name: name, MinGapSeconds: gap.Seconds()})
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("schedule: claim job %s: %w", name, err)
	}

	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, e.Timeout)
	runErr := runSafely(rctx, e.Run)
	cancel()
	result := "ok"
	var errText *string
	if runErr != nil {
		result = "error"
		msg := runErr.Error()
		errText = &msg
	}
	r.metrics.JobRuns.WithLabelValues(name, result).Observe(time.Since(start).Seconds())
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	if err := r.q.JobRunFinish(fctx, db, store.JobRunFinishParams{Result: result, Error: errText, Name: name}); err != nil {
		r.logger.WarnContext(ctx, "record job run", slog.String("job", name), slog.Any("error", err))
	}
	return true, runErr
}

// minGap is half the interval between the ticks after now: a second claim
// within it is the same tick reached by another replica. An interval barely
// depends on which clock reads it, so the replica's own clock will do.
func minGap(sched cron.Schedule, now time.Time) time.Duration {
	return max(interval(sched, now)/2, time.Second)
}

// interval is the time between the ticks after now.
func interval(sched cron.Schedule, now time.Time) time.Duration {
	next := sched.Next(now)
	return sched.Next(next).Sub(next)
}

func runSafely(ctx context.Context, run func(ctx context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("job panicked: %v", v)
		}
	}()
	return run(ctx)
}
