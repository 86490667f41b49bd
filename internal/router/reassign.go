package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/store"
)

// Reassign moves one user to lineID for good, for ops: the line becomes
// their home and current line and the first of their set (the old home
// stays as a backup while the set has room), with a ledger row (reason
// ops, so recovery leaves it). The line must take new users (line_policy)
// and have room under its cap; assignment's caps hold because the move
// runs under the exclusive pool lock, as every other move, and the move is
// published in its transaction. A user already on lineID as home and
// current line is left as is.
func (s *Service) Reassign(ctx context.Context, userRef string, lineID int64) (User, error) {
	if err := ValidateUserRef(userRef); err != nil {
		return User{}, err
	}
	usage, err := s.lines.MsgsPerUserPerDay(ctx)
	if err != nil {
		return User{}, err
	}
	var moves []Move
	err = store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		moves = nil
		if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
			return fmt.Errorf("lock line pool: %w", err)
		}
		u, err := s.q.UserGetForMove(ctx, tx, userRef)
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return notFoundUser()
		}
		if err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		if u.HomeLineID == lineID && u.CurrentLineID == lineID {
			return nil
		}
		ls, err := s.lines.SnapshotOf(ctx, tx, usage.PerUserPerDay, []int64{lineID})
		if err != nil {
			return err
		}
		if len(ls) == 0 {
			return lines.NotFound(lineID)
		}
		target := ls[0]
		if err := takesUser(target, u.CurrentLineID == lineID); err != nil {
			return err
		}
		set := append([]int64{lineID}, slices.DeleteFunc(slices.Clone(u.LineSet), func(id int64) bool { return id == lineID })...)
		set = set[:min(len(set), 1+s.cfg.BackupCount)]
		mv := store.UserMoveBatchParams{
			UserIds: []int64{u.ID}, HomeLineIds: []int64{lineID}, CurrentLineIds: []int64{lineID},
			FromLineIds: []int64{u.CurrentLineID}, Notes: []string{"reassigned by ops"},
			Reason: LedgerOps, Now: s.cfg.Now(),
		}
		for i, id := range set {
			mv.SetUserIds = append(mv.SetUserIds, u.ID)
			mv.SetPositions = append(mv.SetPositions, int16(i)) //nolint:gosec // a handful
			mv.SetLineIds = append(mv.SetLineIds, id)
		}
		rows, err := s.writeMoves(ctx, tx, mv)
		if err != nil {
			return err
		}
		// Empty when only the home changed, not the line the user talks to.
		moves = movedUsers(rows)
		if err := s.bumpCounts(ctx, tx, moves, mv.Now); err != nil {
			return err
		}
		return s.published(ctx, tx, moves, LedgerOps)
	})
	if err != nil {
		return User{}, err
	}
	for _, m := range moves {
		s.logger.InfoContext(ctx, "user reassigned by ops", slog.Int64("user_id", m.UserID),
			slog.Int64("from_line_id", m.FromLineID), slog.Int64("to_line_id", m.ToLineID))
	}
	return s.User(ctx, userRef)
}

// takesUser says whether a line may take one more user: line_policy lets
// it take new users, and it has room under its cap unless the user is on
// it already (only their home moves).
func takesUser(l lines.Line, alreadyOn bool) error {
	if !l.MaySignup {
		return apperr.New(apperr.Conflict, "line_not_taking_users",
			fmt.Sprintf("line %d takes no new users (%s)", l.ID, l.SignupWhy))
	}
	if !alreadyOn && l.HeadroomLeft() <= 0 {
		return apperr.New(apperr.Conflict, "line_full",
			fmt.Sprintf("line %d is at its cap of %d users", l.ID, l.Cap))
	}
	return nil
}
