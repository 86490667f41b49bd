package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/store"
)

const cleanupBatch = 5000

// VolumeRetention is how long per-minute line volume is kept: capacity
// planning reads the last 7 days, the budget the last 24 hours.
const VolumeRetention = 8 * 24 * time.Hour

// Cleanup deletes pair rows that hold nothing any more (no send in the
// window, no recent hit, no quarantine) and line volume older than
// VolumeRetention, in batches, and returns how many rows went.
// The lead schedules it with the other periodic jobs; it is safe to run on
// every replica at once.
func (l *Limiter) Cleanup(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, err := l.q.PairStateCleanup(ctx, l.pool, store.PairStateCleanupParams{
			PairWindow: store.Interval(l.cfg.PairWindow),
			HitWindow:  store.Interval(l.cfg.HitWindow),
			Batch:      cleanupBatch,
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("clean up pair windows: %w", err)
		}
		if n < cleanupBatch {
			break
		}
	}
	for {
		n, err := l.q.LineVolumePrune(ctx, l.pool, store.LineVolumePruneParams{Keep: store.Interval(VolumeRetention), Batch: cleanupBatch})
		total += n
		if err != nil {
			return total, fmt.Errorf("prune line volume: %w", err)
		}
		if n < cleanupBatch {
			return total, nil
		}
	}
}
