package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/inbound"
)

// riverClient is the instance's River client (the durable job queue of
// webhook processing and event deliveries), built on first use so that any
// feature's wiring can insert jobs with it. App.Start starts it; shutdown
// stops it (stopRiver).
// River elects one leader across replicas for its maintenance and
// periodic jobs.
func (a *App) riverClient() (*river.Client[pgx.Tx], error) {
	if a.jobs != nil {
		return a.jobs, nil
	}
	workers := river.NewWorkers()
	n := max(a.cfg.JobWorkers, 1)
	poll := a.cfg.JobPollInterval
	if poll <= 0 {
		poll = time.Second
	}
	rc := &river.Config{
		// River reports routine progress (job counts every few seconds) at
		// info; only its warnings and errors belong in the gateway's log.
		Logger:            slog.New(warnFloor{a.logger.Handler()}).With(slog.String("component", "river")),
		ErrorHandler:      jobErrors{log: a.logger.With(slog.String("component", "jobs"))},
		Workers:           workers,
		FetchPollInterval: poll,
		// A replica killed mid-job, or a batch River could not complete
		// during a Postgres restart, leaves jobs "running"; they are
		// rescued well within a minute instead of River's default hour.
		// Every job here is bounded far below JobTimeout.
		JobTimeout:           30 * time.Second,
		RescueStuckJobsAfter: 45 * time.Second,
		// A fetch takes at most one job per free worker, so the cooldown
		// bounds throughput at workers ÷ cooldown: River's 100 ms default
		// capped webhook processing near 200/s against 1,600/s of intake.
		FetchCooldown: min(poll, 10*time.Millisecond),
		Queues: map[string]river.QueueConfig{
			inbound.Queue:      {MaxWorkers: n},
			events.Queue:       {MaxWorkers: n},
			river.QueueDefault: {MaxWorkers: 2},
		},
	}
	// Finished jobs are deleted by River's job cleaner, which the leader
	// runs every 30 s through river_job's (state, finalized_at) index;
	// how long each state is kept is a retention setting like the others.
	a.retentionConfig().ApplyRiver(rc)
	c, err := river.NewClient(riverpgxv5.New(a.pool), rc)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	a.jobs, a.jobWorkers = c, workers
	a.starters = append(a.starters, func(ctx context.Context) error {
		// The client outlives the start call; Close stops it.
		if err := c.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start job queue: %w", err)
		}
		// The queue stops beside the HTTP drain, within the same deadline.
		a.stoppers = append(a.stoppers, a.onShutdown(func(ctx context.Context) { a.stopRiver(ctx, c) }))
		return nil
	})
	return c, nil
}

// stopRiver stops the job queue by ctx's deadline, the shutdown's: softly
// until a quarter of the time left (at most 5 s) remains, then by
// cancelling the jobs still running, which leaves them that time to return
// and River to record them. A cancelled job is not lost: it is retried (event
// deliveries snooze, webhook processing rolls back), and one River could
// not record is rescued as stuck.
func (a *App) stopRiver(ctx context.Context, c *river.Client[pgx.Tx]) {
	deadline, _ := ctx.Deadline()
	reserve := min(5*time.Second, time.Until(deadline)/4)
	soft, cancel := context.WithDeadline(ctx, deadline.Add(-reserve))
	defer cancel()
	a.observe(soft, "jobs soft stop")
	if err := c.Stop(soft); err == nil {
		return
	}
	a.logger.Warn("job queue did not stop in time; cancelling running jobs")
	a.observe(ctx, "jobs cancel")
	if err := c.StopAndCancel(ctx); err != nil {
		a.logger.Warn("cancelled jobs did not return by the shutdown deadline; they are rescued as stuck", slog.Any("error", err))
	}
}

// Jobs is the instance's River client.
func (a *App) Jobs() *river.Client[pgx.Tx] { return a.jobs }

// warnFloor drops records below warn unless the gateway logs at debug.
type warnFloor struct{ slog.Handler }

func (h warnFloor) Enabled(ctx context.Context, l slog.Level) bool {
	if h.Handler.Enabled(ctx, slog.LevelDebug) {
		return true
	}
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnFloor) WithAttrs(as []slog.Attr) slog.Handler { return warnFloor{h.Handler.WithAttrs(as)} }
func (h warnFloor) WithGroup(n string) slog.Handler       { return warnFloor{h.Handler.WithGroup(n)} }
