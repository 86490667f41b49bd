package app

import (
	"context"
	"time"

	"github.com/linegate/linegate/internal/retention"
	"github.com/linegate/linegate/internal/schedule"
)

// retentionConfig is the retention of every table, River's jobs included.
func (a *App) retentionConfig() retention.Config {
	c := a.cfg
	return retention.Config{
		Batch: c.RetentionBatch, WebhookEvents: c.WebhookEventsRetention, EventDeliveries: c.EventDeliveriesRetention,
		DeadEventDeliveries: c.DeadEventDeliveriesRetention, LinqMessages: c.LinqMessagesRetention,
		SignupLinks: c.SignupLinksRetention, OpsSessions: c.OpsSessionsRetention,
		PairQuarantines: c.PairQuarantinesRetention, LineHealthHistory: c.LineHealthHistoryRetention,
		Failovers: c.FailoversRetention, LineLedger: c.LineLedgerRetention,
		CompletedJobs: c.CompletedJobsRetention, CancelledJobs: c.CancelledJobsRetention,
		DiscardedJobs: c.DiscardedJobsRetention,
	}
}

// wireRetention schedules the retention job.
func (a *App) wireRetention() error {
	svc := retention.New(a.pool, a.logger, a.metrics, a.retentionConfig())
	jobs, err := a.schedule(schedule.Job{
		Name: "retention", Spec: a.cfg.RetentionSpec, Timeout: 10 * time.Minute, CatchUp: true,
		Run: func(ctx context.Context) error { _, err := svc.Run(ctx); return err },
	})
	if err != nil {
		return err
	}
	a.starters = append(a.starters, jobs.Start)
	a.stoppers = append(a.stoppers, jobs.Stop)
	return nil
}
