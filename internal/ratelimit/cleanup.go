package ratelimit

import (
	"context"
	"fmt"

	"github.com/linegate/linegate/internal/store"
)

const cleanupBatch = 5000

// Cleanup deletes pair rows that hold nothing any more (no send in the
// window, no recent hit, no quarantine) in batches and returns how many went.
// The lead schedules it with the other periodic jobs; it is safe to run on
// every replica at once.
func (l *Limiter) Cleanup(ctx context.Context) (int64, error) {
	now := l.Now()
	var total int64
	for {
		n, err := l.q.PairStateCleanup(ctx, l.pool, store.PairStateCleanupParams{
			Now:         now,
			SendsCutoff: now.Add(-l.limits.PairWindow),
			HitsCutoff:  now.Add(-l.limits.HitWindow),
			Batch:       cleanupBatch,
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("clean up pair windows: %w", err)
		}
		if n < cleanupBatch {
			return total, nil
		}
	}
}
