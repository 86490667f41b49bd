package lines

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// Retirer retires line id and moves its users off it in one transaction
// that holds PoolLockKey and runs first before anything else, so first's
// changes and the retirement commit together or not at all. The router
// provides it (router.Service.RetireWith); it is a function because the
// router builds on this package, not the other way round.
type Retirer func(ctx context.Context, id int64, first func(ctx context.Context, tx pgx.Tx) error) error

// Patch applies an ops change to line id as one transaction: a budget
// change and a retirement (which moves the line's users off it through
// retire) commit together or not at all. Without a retirement it is Update.
func (s *Service) Patch(ctx context.Context, id int64, u Update, retire Retirer) (Line, error) {
	if u.AdminState == nil || *u.AdminState != AdminRetired {
		return s.Update(ctx, id, u)
	}
	if retire == nil {
		return Line{}, errors.New("patch line: retiring a line needs a Retirer")
	}
	budget := Update{SetBudget: u.SetBudget, BudgetOverride: u.BudgetOverride}
	err := retire(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
		if !budget.SetBudget {
			return nil
		}
		return s.UpdateTx(ctx, tx, id, budget)
	})
	if err != nil {
		return Line{}, err
	}
	s.logger.InfoContext(ctx, "line admin state set", slog.Int64("line_id", id), slog.String("admin_state", AdminRetired))
	return s.Get(ctx, id)
}
