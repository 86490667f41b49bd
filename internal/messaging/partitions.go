package messaging

import (
	"context"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// MaintainPartitions makes messages' day partitions for the week ahead and
// drops the days past MessagesRetention (whole days: a day goes once all of
// it is older than the retention). Message ids are UUIDv7 made on this
// replica's wall clock (newMessageID), so the days are counted on it too.
func (s *Service) MaintainPartitions(ctx context.Context) (created, dropped []string, err error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	keepFrom := today.Add(-s.cfg.MessagesRetention).Truncate(24 * time.Hour)
	row, err := s.q.MessagePartitions(ctx, s.pool, store.MessagePartitionsParams{
		Today: today, AheadDays: store.MessagePartitionsAhead, KeepFrom: keepFrom,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("maintain message partitions: %w", err)
	}
	return row.Created, row.Dropped, nil
}
