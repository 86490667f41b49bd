package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// orphanBatch is the most deliveries one statement of the sweep looks at.
const orphanBatch = 1000

// orphanReason is the last_error of a delivery the sweep marks dead.
const orphanReason = "no outcome recorded: its job ended without one (a replica stopped during the last attempt)"

// orphanAfter is how long a delivery still to be sent stays unchanged
// before the sweep looks for its job: twice the longest wait between
// attempts, so a delivery is only ever judged long after its job should
// have run; the job lookup alone decides.
func (s *Service) orphanAfter() time.Duration { return max(2*s.cfg.RetryMaxDelay, time.Hour) }

// MarkOrphansDead marks dead the deliveries still pending or retrying that
// no River job will send: River's stuck-job rescuer discards a job found
// running on its last attempt (its replica was killed), and the worker
// never recorded the outcome, so the delivery would stay open for ever,
// never retried, never counted dead nor pruned. Dead, ops see it and can
// replay it. It walks the old open rows once, batch by batch, and returns
// how many it marked.
func (s *Service) MarkOrphansDead(ctx context.Context) (int64, error) {
	p := store.EventDeliveryMarkOrphansDeadParams{
		Idle: store.Interval(s.orphanAfter()), Batch: orphanBatch, Reason: orphanReason,
	}
	var total int64
	for {
		p.Now = s.cfg.Now().UTC()
		r, err := s.q.EventDeliveryMarkOrphansDead(ctx, s.pool, p)
		if err != nil {
			return total, fmt.Errorf("mark orphaned deliveries dead: %w", err)
		}
		total += r.Marked
		if r.Marked > 0 {
			s.metrics.EventDeliveries.WithLabelValues(StateDead).Add(float64(r.Marked))
			s.log.WarnContext(ctx, "event deliveries dead: their job ended without recording an outcome",
				slog.Int64("deliveries", r.Marked))
		}
		if r.Scanned < int64(p.Batch) {
			return total, nil
		}
		p.AfterAt, p.AfterID = r.LastAt, r.LastID
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
