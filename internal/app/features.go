package app

import (
	"context"
	"time"

	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/schedule"
)

// wireFeatures builds the feature services and hands them to the router.
// Each feature keeps its wiring in its own block below.
func (a *App) wireFeatures(deps *httpapi.Deps) error {
	// --- line pool, assignment, signups ---
	// Scoped so its names stay out of the other features' blocks.
	if err := func() error {
		linePool := lines.New(a.pool, a.linq, a.logger, lines.Config{
			Policy: a.linePolicy(), Headroom: a.cfg.Headroom, MsgsPerUserPerDay: a.cfg.MsgsPerUserPerDay,
			SignupRampPerHour: a.cfg.SignupRampPerHour, UsageCacheTTL: 5 * time.Minute, Now: a.now,
		})
		// The batch limits are not settings; the rest comes from the config.
		assignCfg := router.DefaultConfig()
		assignCfg.BackupCount, assignCfg.SignupLinkTTL = a.cfg.BackupCount, a.cfg.SignupLinkTTL
		assignCfg.DefaultRegion, assignCfg.Now = a.cfg.DefaultRegion, a.now
		assign := router.New(a.pool, linePool, a.logger, a.metrics, assignCfg)
		deps.Lines, deps.Router = linePool, assign
		deps.Signup = httpapi.SignupConfig{
			PublicURL: a.cfg.PublicURL, CompanyName: a.cfg.CompanyName, PublicRatePerMin: a.cfg.PublicRatePerMin, Now: a.now,
		}
		// The capacity plan's totals; folding a minute waits until a refused
		// send (within the request timeout) has given its unit back.
		rollupCfg := lines.DefaultRollupConfig()
		rollupCfg.Lag = max(rollupCfg.Lag, a.cfg.RequestTimeout+time.Minute)
		rollup := lines.NewRollup(a.pool, a.logger, rollupCfg)
		// Users' outbound per day, folded from messages with the same lag.
		volume := router.NewVolumeFold(a.pool, a.logger, router.VolumeFoldConfig{
			Lag: rollupCfg.Lag, MaxStep: time.Hour,
		})
		jobs, err := a.schedule(schedule.Job{
			Name: "line_sync", Spec: a.cfg.LineSyncSpec, Timeout: time.Minute,
			Run: func(ctx context.Context) error { _, err := linePool.Sync(ctx); return err },
		}, schedule.Job{
			Name: "line_usage", Spec: "@every 1m", Timeout: time.Minute,
			Run: func(ctx context.Context) error { _, err := rollup.Run(ctx); return err },
		}, schedule.Job{
			Name: "user_volume", Spec: "@every 1m", Timeout: time.Minute,
			Run: func(ctx context.Context) error { _, err := volume.Run(ctx); return err },
		})
		if err != nil {
			return err
		}
		a.starters = append(a.starters, func(ctx context.Context) error {
			a.linqAtStart(ctx, "line sync", linePool.HasLines,
				func(ctx context.Context) error { _, err := linePool.Sync(ctx); return err })
			return jobs.Start(ctx)
		})
		a.stoppers = append(a.stoppers, jobs.Stop)
		return nil
	}(); err != nil {
		return err
	}

	// --- sending, limits, idempotency ---
	if err := func() error {
		limiter := ratelimit.New(a.pool, a.logger, a.metrics, ratelimit.Config{
			PairLimit: a.cfg.PairLimit, PairWindow: a.cfg.PairWindow, HitLimit: a.cfg.QuarantineHits,
			HitWindow: 10 * time.Minute, QuarantineFor: a.cfg.QuarantineFor, Policy: a.linePolicy(),
			ReplyWindow: a.cfg.ReplyWindow,
		})
		send := messaging.New(a.pool, a.linq, limiter, a.logger, a.metrics, messaging.Config{
			DefaultRegion: a.cfg.DefaultRegion, StoreMessageText: a.cfg.StoreMessageText,
			IdempotencyKeepFor: a.cfg.IdempotencyKeepFor, MessagesRetention: a.cfg.MessagesRetention, SendTimeout: a.cfg.RequestTimeout, Now: a.now,
		})
		a.stoppers = append(a.stoppers, send.Close)
		deps.Limiter, deps.Messages, a.messages = limiter, send, send
		jobs, err := a.schedule(
			schedule.Job{Name: "idempotency_cleanup", Spec: "@every 1h", CatchUp: true, Timeout: 5 * time.Minute,
				Run: func(ctx context.Context) error { _, err := send.CleanupIdempotency(ctx); return err }},
			schedule.Job{Name: "message_partitions", Spec: "@every 1h", CatchUp: true, Timeout: time.Minute,
				Run: func(ctx context.Context) error { _, _, err := send.MaintainPartitions(ctx); return err }},
			schedule.Job{Name: "limits_cleanup", Spec: "@every 10m", Timeout: 5 * time.Minute,
				Run: func(ctx context.Context) error { _, err := limiter.Cleanup(ctx); return err }},
			schedule.Job{Name: "send_recovery", Spec: "@every 1m", Timeout: time.Minute,
				Run: func(ctx context.Context) error { _, err := send.Recover(ctx); return err }},
		)
		if err != nil {
			return err
		}
		a.starters = append(a.starters, jobs.Start)
		a.stoppers = append(a.stoppers, jobs.Stop)
		return nil
	}(); err != nil {
		return err
	}

	if err := a.wireRetention(); err != nil {
		return err
	}
	if err := a.wireHealth(deps); err != nil {
		return err
	}
	return a.wireWebhooks(deps)
}

// linePolicy is the one line policy the pool and the send path share.
func (a *App) linePolicy() lines.Policy {
	return lines.Policy{
		DefaultBudget: a.cfg.LineDailyBudget, Warmup: time.Duration(a.cfg.WarmupDays) * 24 * time.Hour,
		ReplyReserve: a.cfg.ReplyReserve, AtRiskPace: a.cfg.AtRiskPace,
	}
}
