package app

import (
	"context"
	"errors"
	"time"

	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/schedule"
)

// wireHealth builds line health on the pool and the router wired before it
// and the events service, hands it to the HTTP API (deps.Health), to the
// send path wired before it (2027 answers, the continuation text on a
// user's new line) and to the webhook processing wired after it
// (a.lineHealth: status_updated and message.failed inputs), and schedules
// its jobs, each run by one replica per tick:
//
//   - line_health_poll: GET /v3/phone_numbers plus a check from each line,
//     applied as health inputs (failovers included); also once at start,
//     beside serving;
//   - line_recovery: retries failovers that stranded users, then brings
//     users back to lines ok for the dwell time;
//   - contact_cards: every line has an active Linq contact card with the
//     company name (on the line sync's schedule, and once at start, beside
//     serving, so that a new line or a Linq that lost its cards does not
//     wait a whole period for one);
//   - contact_card_share: shares a line's card into chats that just got
//     their first message on it, then at most daily while active.
func (a *App) wireHealth(deps *httpapi.Deps) error {
	if deps.Lines == nil || deps.Router == nil {
		return errors.New("line health needs the line pool and the router")
	}
	ev, err := a.eventsService()
	if err != nil {
		return err
	}
	svc := health.New(a.pool, deps.Lines, deps.Router, a.linq, ev, a.logger, a.metrics, health.Config{
		StaleAfter: a.cfg.HealthStaleAfter, ProbeFlags: a.cfg.HealthProbeFlags,
		RecoveryDwell: a.cfg.RecoveryDwell, RecoveryPerMinute: a.cfg.RecoveryPerMinute,
		FlapLimit: a.cfg.FlapLimit, FlapWindow: a.cfg.FlapWindow,
		CompanyName: a.cfg.CompanyName, ContinuationText: a.cfg.ContinuationText,
		CardReshareAfter: a.cfg.ContactCardReshare, Now: a.now,
	})
	poll := func(ctx context.Context) error { _, err := svc.Poll(ctx); return err }
	cards := func(ctx context.Context) error { _, err := svc.EnsureContactCards(ctx); return err }
	jobs, err := a.schedule(
		schedule.Job{Name: "line_health_poll", Spec: a.cfg.HealthPollSpec, Timeout: time.Minute, Run: poll},
		schedule.Job{Name: "line_recovery", Spec: a.cfg.RecoverySpec, Timeout: time.Minute,
			Run: func(ctx context.Context) error {
				if _, _, err := svc.Sweep(ctx); err != nil {
					return err
				}
				_, err := svc.Recover(ctx)
				return err
			}},
		schedule.Job{Name: "contact_cards", Spec: a.cfg.LineSyncSpec, Timeout: time.Minute, Run: cards},
		schedule.Job{Name: "contact_card_share", Spec: a.cfg.ContactCardSpec, Timeout: 5 * time.Minute,
			Run: func(ctx context.Context) error { _, err := svc.ShareContactCards(ctx); return err }},
	)
	if err != nil {
		return err
	}
	deps.Health, a.lineHealth = svc, svc
	// Retirements, ops moves and user deletes tell product services, as
	// failovers do.
	deps.Router.PublishMovesWith(svc.PublishMoves)
	deps.Router.PublishEventsWith(ev.Publish)
	if a.messages != nil {
		a.messages.SetHealth(svc)
	}
	a.starters = append(a.starters, func(context.Context) error {
		// After the line sync's starter: a first start has its lines by now.
		// A health poll, so that the lines' health is confirmed (not stale)
		// before the first tick, and the cards.
		a.besideServing("line health poll", poll)
		a.besideServing("contact cards", cards)
		return nil
	}, jobs.Start)
	a.stoppers = append(a.stoppers, jobs.Stop)
	return nil
}

// LineHealth is the instance's line-health service (tests run its jobs
// directly through it).
func (a *App) LineHealth() *health.Service {
	svc, _ := a.lineHealth.(*health.Service)
	return svc
}
