package router

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/lines"
)

// RetireWith is Retire with first run at the start of the same transaction
// (under the pool lock), so an ops change that both edits and retires a
// line commits whole or not at all. It is a lines.Retirer once its
// MoveResult is captured.
func (s *Service) RetireWith(ctx context.Context, lineID int64, first func(ctx context.Context, tx pgx.Tx) error) (MoveResult, error) {
	retired := lines.AdminRetired
	return s.moveUsersOff(ctx, lineID, LedgerRetire, func(ctx context.Context, tx pgx.Tx) error {
		if first != nil {
			if err := first(ctx, tx); err != nil {
				return err
			}
		}
		return s.lines.UpdateTx(ctx, tx, lineID, lines.Update{AdminState: &retired})
	})
}
