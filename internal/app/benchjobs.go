package app

import (
	"context"
	"time"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/retention"
)

// BackgroundJob is one scheduled job of the instance as a function to run
// once, outside its schedule.
type BackgroundJob struct {
	Name string
	Run  func(ctx context.Context) error
}

// BackgroundJobs lists the instance's scheduled jobs, for the benchmark,
// which times one run of each against a large database. The services that
// the schedules keep to themselves are rebuilt here from the same config.
func (a *App) BackgroundJobs() []BackgroundJob {
	linePool := lines.New(a.pool, a.linq, a.logger, lines.Config{
		Policy: a.linePolicy(), Headroom: a.cfg.Headroom, MsgsPerUserPerDay: a.cfg.MsgsPerUserPerDay,
		SignupRampPerHour: a.cfg.SignupRampPerHour, UsageCacheTTL: 5 * time.Minute, Now: a.now,
	})
	limiter := ratelimit.New(a.pool, a.logger, a.metrics, ratelimit.Config{
		PairLimit: a.cfg.PairLimit, PairWindow: a.cfg.PairWindow, HitLimit: a.cfg.QuarantineHits,
		HitWindow: 10 * time.Minute, QuarantineFor: a.cfg.QuarantineFor, Policy: a.linePolicy(),
		ReplyWindow: a.cfg.ReplyWindow,
	})
	keep := retention.New(a.pool, a.logger, a.metrics, a.retentionConfig())
	hs := a.LineHealth()
	return []BackgroundJob{
		{"line_sync", func(ctx context.Context) error { _, err := linePool.Sync(ctx); return err }},
		{"line_health_poll", func(ctx context.Context) error { _, err := hs.Poll(ctx); return err }},
		{"line_recovery", func(ctx context.Context) error {
			if _, _, err := hs.Sweep(ctx); err != nil {
				return err
			}
			_, err := hs.Recover(ctx)
			return err
		}},
		{"contact_cards", func(ctx context.Context) error { _, err := hs.EnsureContactCards(ctx); return err }},
		{"contact_card_share", func(ctx context.Context) error { _, err := hs.ShareContactCards(ctx); return err }},
		{"limits_cleanup", func(ctx context.Context) error { _, err := limiter.Cleanup(ctx); return err }},
		{"idempotency_cleanup", func(ctx context.Context) error { _, err := a.messages.CleanupIdempotency(ctx); return err }},
		{"send_recovery", func(ctx context.Context) error { _, err := a.messages.Recover(ctx); return err }},
		{"retention", func(ctx context.Context) error { _, err := keep.Run(ctx); return err }},
	}
}
