package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// NeedsContinuation reports whether the next send to a user should be
// preceded by the continuation text (ContinuationText): the user was moved
// onto their current line (failover, ops, recovery or retire; their newest
// ledger row put them there) and has no chat on it yet. db is the pool or
// the send's transaction.
func (s *Service) NeedsContinuation(ctx context.Context, db store.DBTX, userID int64) (bool, error) {
	r, err := s.q.UserLastMove(ctx, db, userID)
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read user's last move: %w", err)
	}
	switch r.Reason {
	case router.LedgerFailover, router.LedgerOps, router.LedgerRecovery, router.LedgerRetire:
	default:
		return false, nil
	}
	return !r.HasChat && r.ToLineID == r.CurrentLineID, nil
}
