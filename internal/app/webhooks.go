package app

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/schedule"
	"github.com/linegate/linegate/internal/webhooks"
)

// eventsService is the publisher of events to product services, built on
// first use: line health publishes through it inside its own transactions.
func (a *App) eventsService() (*events.Service, error) {
	if a.events != nil {
		return a.events, nil
	}
	jobs, err := a.riverClient()
	if err != nil {
		return nil, err
	}
	a.events = events.New(a.pool, jobs, a.logger, a.metrics, events.Config{
		RetryBase: a.cfg.EventRetryBase, RetryMaxDelay: a.cfg.EventRetryMaxDelay, RetryFor: a.cfg.EventRetryFor,
		DeliveryTimeout: a.cfg.EventDeliveryTimeout, SecretOverlap: a.cfg.EventSecretOverlap,
		StoreMessageText: a.cfg.StoreMessageText, Now: a.now,
	})
	river.AddWorker(a.jobWorkers, a.events.Worker())
	return a.events, nil
}

// Events is the instance's event publisher.
func (a *App) Events() *events.Service { return a.events }

// Webhooks is the instance's Linq webhook intake.
func (a *App) Webhooks() *webhooks.Service { return a.webhooks }

// wireWebhooks builds Linq webhook intake, its processing and events out.
func (a *App) wireWebhooks(deps *httpapi.Deps) error {
	if deps.Limiter == nil {
		return errors.New("webhooks: the rate limiter must be wired first")
	}
	ev, err := a.eventsService()
	if err != nil {
		return err
	}
	jobs := a.jobs
	proc := inbound.New(a.pool, deps.Limiter, ev, a.lineHealth, a.logger, a.metrics, inbound.Config{
		DefaultRegion: a.cfg.DefaultRegion, StoreMessageText: a.cfg.StoreMessageText, Now: a.now,
	})
	intake := webhooks.New(a.pool, jobs, a.linq, a.logger, a.metrics, webhooks.Config{
		Secrets: a.cfg.WebhookSecrets(), Tolerance: a.cfg.WebhookTolerance, PublicURL: a.cfg.PublicURL, Now: a.now,
	})
	river.AddWorker(a.jobWorkers, proc.Worker())
	river.AddWorker(a.jobWorkers, intake.SubscriptionWorker())
	if a.cfg.LinqWebhookSubscribe {
		jobs.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(10*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return webhooks.SubscriptionArgs{}, nil },
			&river.PeriodicJobOpts{ID: "linq_webhook_subscription"}))
	}
	// Deliveries whose last attempt's replica was killed are left open by
	// River's rescuer, with no job: the sweep marks them dead.
	orphans, err := a.schedule(schedule.Job{
		Name: "event_delivery_orphans", Spec: "@every 1h", CatchUp: true, Timeout: 5 * time.Minute,
		Run: func(ctx context.Context) error { _, err := ev.MarkOrphansDead(ctx); return err },
	})
	if err != nil {
		return err
	}
	a.starters = append(a.starters, orphans.Start)
	a.stoppers = append(a.stoppers, orphans.Stop)
	deps.Webhooks, deps.WebhookMaxBodyBytes, deps.Events = intake, a.cfg.WebhookMaxBodyBytes, ev
	a.webhooks = intake
	a.starters = append(a.starters, func(ctx context.Context) error {
		if a.cfg.LinqWebhookSubscribe {
			a.linqAtStart(ctx, "Linq webhook subscription", intake.HasSubscription, intake.EnsureSubscription)
		}
		return nil
	})
	return nil
}
