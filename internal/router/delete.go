package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/store"
)

// Delete removes a user for good (an account closed, an erasure request):
// their place on their line is free for a new signup, their handle may be
// signed up again under another user_ref, and their line set, ledger,
// signup links, chats and volume go with them. Sends to the user_ref are
// then 404s, their signup links the not-found page, and a message from
// their handle arrives as one from an unknown sender. Product services
// are told (user.deleted) in the same transaction.
//
// It runs under the exclusive pool lock, as moves do: the user's line may
// be in the middle of a failover, and the count of users on it must stay
// exact. What is not keyed by the user stays until its retention: sent
// messages' records (which hold the handle, and the text only with
// STORE_MESSAGE_TEXT on), events already sent, and the pair windows and
// quarantines of the handle, which keep protecting the line.
func (s *Service) Delete(ctx context.Context, userRef string) error {
	if err := ValidateUserRef(userRef); err != nil {
		return err
	}
	// A webhook batch holding the user's row may wait for the pool lock
	// (a line's failover): the deadlock's victim runs again.
	lineID, err := store.RetryDeadlocked(ctx, func() (int64, error) { return s.deleteTx(ctx, userRef) })
	if err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "user deleted", slog.Int64("line_id", lineID))
	return nil
}

// deleteTx is one attempt of Delete; it returns the line the user was on.
func (s *Service) deleteTx(ctx context.Context, userRef string) (int64, error) {
	return store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (int64, error) {
		if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
			return 0, fmt.Errorf("lock line pool: %w", err)
		}
		u, err := s.q.UserDeleteByRef(ctx, tx, userRef)
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return 0, notFoundUser()
		}
		if err != nil {
			return 0, fmt.Errorf("delete user: %w", err)
		}
		now := s.cfg.Now()
		err = s.q.LineBumpCounts(ctx, tx, store.LineBumpCountsParams{
			LineIds: []int64{u.CurrentLineID}, Deltas: []int32{-1}, Now: now,
		})
		if err != nil {
			return 0, fmt.Errorf("update user count: %w", err)
		}
		return u.CurrentLineID, s.publishDeleted(ctx, tx, u.ID, userRef, now)
	})
}

// publishDeleted tells product services that the user is gone, in the
// delete's transaction; its id is the user row's (events.Row).
func (s *Service) publishDeleted(ctx context.Context, tx pgx.Tx, userID int64, userRef string, at time.Time) error {
	if s.events == nil {
		return nil
	}
	err := s.events(ctx, tx, events.Event{
		Row: &events.Row{Table: "users", ID: userID}, Type: events.TypeUserDeleted, OccurredAt: at,
		Data: events.UserDeleted{UserRef: userRef, DeletedAt: at},
	})
	if err != nil {
		return fmt.Errorf("publish user.deleted: %w", err)
	}
	return nil
}
