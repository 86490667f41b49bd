package router

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/store"
)

// MoveResult says what MoveUsersOff did.
type MoveResult struct {
	LineID int64 `json:"line_id"`
	// Moved users changed current line; Rehomed got a new home line;
	// Rebacked only had the line replaced among their backups.
	Moved    int `json:"moved"`
	Rehomed  int `json:"rehomed"`
	Rebacked int `json:"rebacked"`
	// Stranded users had no serving line to go to and stay where they are.
	Stranded int `json:"stranded"`
}

// MoveUsersOff moves users off a line, under the pool lock, with a ledger
// entry per user whose line set or current line changed. It is the one path
// for retire, ops moves and failover.
//
// reason "failover" is temporary: users whose current line is lineID move
// as FailoverTx moves them (set-based, caps respected); home line and set
// stay, for recovery. Line health (internal/health) runs failovers inside
// its own transactions and tells product services; this entry point is for
// callers that only need the move.
//
// reason "retire" or "ops" is permanent: lineID leaves every line set that
// holds it. A user whose home it was gets their first serving backup as the
// new home (moved to the front); whoever was on it moves to the new home;
// sets are topped up to BackupCount backups by the backup rule. Only when
// no line of a set is serving does the user get a fresh line (lowest
// utilization among serving lines).
func (s *Service) MoveUsersOff(ctx context.Context, lineID int64, reason string) (MoveResult, error) {
	if reason == LedgerFailover {
		fo, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (FailoverResult, error) {
			return s.FailoverTx(ctx, tx, FailoverRequest{LineID: lineID, Reason: LedgerFailover, Cause: "move"})
		})
		if err != nil {
			return MoveResult{}, err
		}
		return MoveResult{LineID: lineID, Moved: fo.Moved, Stranded: fo.Stranded}, nil
	}
	return s.moveUsersOff(ctx, lineID, reason, nil)
}

// Retire marks the line retired and moves its users off it in one
// transaction, so a failure never leaves a retired line still carrying users;
// users the pool cannot take make it fail (409 line_users_stranded).
func (s *Service) Retire(ctx context.Context, lineID int64) (MoveResult, error) {
	return s.RetireWith(ctx, lineID, nil)
}

// moveUsersOff runs before (if any) under the pool lock, then the permanent
// move, and publishes the users whose current line changed, all in one
// transaction.
func (s *Service) moveUsersOff(ctx context.Context, lineID int64, reason string, before func(ctx context.Context, tx pgx.Tx) error) (MoveResult, error) {
	switch reason {
	case LedgerRetire, LedgerOps:
	default:
		return MoveResult{}, fmt.Errorf("move users off line: unknown reason %q", reason)
	}
	usage, err := s.lines.MsgsPerUserPerDay(ctx)
	if err != nil {
		return MoveResult{}, err
	}
	res := MoveResult{LineID: lineID}
	err = store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		res = MoveResult{LineID: lineID}
		if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
			return fmt.Errorf("lock line pool: %w", err)
		}
		if before != nil {
			if err := before(ctx, tx); err != nil {
				return err
			}
		}
		snapshot, err := s.lines.Snapshot(ctx, tx, usage.PerUserPerDay)
		if err != nil {
			return err
		}
		p := newPlanner(snapshot, s.cfg.Now())
		if p.byID[lineID] == nil {
			return lines.NotFound(lineID)
		}
		users, err := s.q.UserListForLineMove(ctx, tx, lineID)
		if err != nil {
			return fmt.Errorf("read users on line: %w", err)
		}
		homes := make([]int64, 0, len(users))
		for _, u := range users {
			homes = append(homes, u.HomeLineID)
		}
		slots, err := s.loadBackupSlots(ctx, tx, homes)
		if err != nil {
			return err
		}
		var mv store.UserMoveBatchParams
		for _, u := range users {
			home, cur, set := u.HomeLineID, u.CurrentLineID, slices.Clone(u.LineSet)
			set = slices.DeleteFunc(set, func(id int64) bool { return id == lineID })
			if home == lineID {
				target := p.firstServing(set)
				if target == nil {
					target = p.freshServing(lineID)
				}
				if target == nil {
					res.Stranded++
					continue
				}
				home = target.ID
				set = append([]int64{home}, slices.DeleteFunc(set, func(id int64) bool { return id == home })...)
				res.Rehomed++
			}
			if cur == lineID {
				// Home first, unless it is down too (why the user was
				// on a backup in the first place).
				cur = home
				if t := p.firstServing(set); t != nil {
					cur = t.ID
				}
			}
			if missing := s.cfg.BackupCount - (len(set) - 1); missing > 0 {
				for _, b := range p.pickBackups(home, missing, slots, set...) {
					set = append(set, b.ID)
				}
			}
			if home == u.HomeLineID && cur == u.CurrentLineID {
				res.Rebacked++
			}
			if cur != u.CurrentLineID {
				p.byID[u.CurrentLineID].UserCount--
				p.byID[cur].UserCount++
				res.Moved++
			}
			mv.UserIds = append(mv.UserIds, u.ID)
			mv.HomeLineIds = append(mv.HomeLineIds, home)
			mv.CurrentLineIds = append(mv.CurrentLineIds, cur)
			mv.FromLineIds = append(mv.FromLineIds, u.CurrentLineID)
			mv.Notes = append(mv.Notes, fmt.Sprintf("off line %d", lineID))
			for i, id := range set {
				mv.SetUserIds = append(mv.SetUserIds, u.ID)
				mv.SetPositions = append(mv.SetPositions, int16(i)) //nolint:gosec // a handful
				mv.SetLineIds = append(mv.SetLineIds, id)
			}
		}
		// A retired line sends nothing, and no sweep or recovery moves
		// users off a line whose health is ok: users left on it would be
		// cut off for good. Refuse, so that the retirement rolls back.
		if reason == LedgerRetire && res.Stranded > 0 {
			return apperr.New(apperr.Conflict, "line_users_stranded", fmt.Sprintf(
				"%d users of line %d have no serving line to move to; add or activate lines, then retire it", res.Stranded, lineID))
		}
		if len(mv.UserIds) == 0 {
			return nil
		}
		now := s.cfg.Now()
		mv.Reason, mv.Now = reason, now
		rows, err := s.writeMoves(ctx, tx, mv)
		if err != nil {
			return err
		}
		moves := movedUsers(rows)
		if err := s.bumpCounts(ctx, tx, moves, now); err != nil {
			return err
		}
		return s.published(ctx, tx, moves, reason)
	})
	if err != nil {
		return MoveResult{}, err
	}
	lvl := slog.LevelInfo
	if res.Stranded > 0 {
		lvl = slog.LevelError
	}
	s.logger.Log(ctx, lvl, "users moved off line", slog.Int64("line_id", lineID), slog.String("reason", reason),
		slog.Int("moved", res.Moved), slog.Int("rehomed", res.Rehomed), slog.Int("rebacked", res.Rebacked),
		slog.Int("stranded", res.Stranded))
	return res, nil
}

// writeMoves writes users' new homes, current lines and line sets (mv's
// Set* fields) with a ledger row each, and returns the ledger rows. The new
// homes are written while the sets are cleared: the backup slot count
// (line_backup_slots) then moves with the sets, one statement each, instead
// of user by user with each new home.
func (s *Service) writeMoves(ctx context.Context, tx pgx.Tx, mv store.UserMoveBatchParams) ([]store.UserMoveBatchRow, error) {
	if err := s.q.UserLineDeleteForUsers(ctx, tx, mv.UserIds); err != nil {
		return nil, fmt.Errorf("clear line sets: %w", err)
	}
	rows, err := s.q.UserMoveBatch(ctx, tx, mv)
	if err != nil {
		return nil, fmt.Errorf("move users: %w", err)
	}
	if err := s.q.UserLineInsertBatch(ctx, tx, store.UserLineInsertBatchParams{
		UserIds: mv.SetUserIds, Positions: mv.SetPositions, LineIds: mv.SetLineIds,
	}); err != nil {
		return nil, fmt.Errorf("write line sets: %w", err)
	}
	return rows, nil
}

// movedUsers are the ledger rows of users whose current line changed (a
// move can change only a home or a line set).
func movedUsers(rows []store.UserMoveBatchRow) []Move {
	var moves []Move
	for _, r := range rows {
		if r.FromLineID != r.ToLineID {
			moves = append(moves, Move{LedgerID: r.LedgerID, UserID: r.UserID, UserRef: r.UserRef, FromLineID: r.FromLineID, ToLineID: r.ToLineID})
		}
	}
	return moves
}

// firstServing returns the first line of ids that can carry traffic,
// preferring HEALTHY ones over AT_RISK ones.
func (p *planner) firstServing(ids []int64) *lines.Line {
	var fallback *lines.Line
	for _, id := range ids {
		l := p.byID[id]
		switch {
		case l == nil || !l.Serving():
		case l.Healthy():
			return l
		case fallback == nil:
			fallback = l
		}
	}
	return fallback
}

// freshServing picks a line outside a user's set: an eligible line by the
// home rule if any, else the least utilised healthy serving line.
func (p *planner) freshServing(exclude int64) *lines.Line {
	if l, _ := p.best(); l != nil && l.ID != exclude {
		return l
	}
	var best *lines.Line
	for _, l := range p.lines {
		if l.ID != exclude && l.Healthy() && (best == nil || homeCmp(l, best) < 0) {
			best = l
		}
	}
	return best
}

// loadBackupSlots reads how many backup slots each line holds for the users of
// each of homes.
func (s *Service) loadBackupSlots(ctx context.Context, tx pgx.Tx, homes []int64) (backupSlots, error) {
	rows, err := s.q.UserLineBackupSlots(ctx, tx, homes)
	if err != nil {
		return nil, fmt.Errorf("count backup slots: %w", err)
	}
	slots := backupSlots{}
	for _, r := range rows {
		slots.add(r.HomeLineID, r.LineID, int(r.Slots))
	}
	return slots, nil
}
