package router

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/store"
)

// LedgerRecovery is the ledger reason of a user brought back to their home
// line after a failover.
const LedgerRecovery = "recovery"

// FailoverRequest names the line whose users move and why.
type FailoverRequest struct {
	LineID int64
	// Reason is LedgerFailover (the line failed) or LedgerOps (ops asked);
	// recovery brings back only the users of the first kind.
	Reason string
	// Cause is the health input or action behind it, for the history.
	Cause string
}

// Move is one user put on another line.
type Move struct {
	LedgerID   int64  `json:"-"`
	UserID     int64  `json:"-"`
	UserRef    string `json:"user_ref"`
	FromLineID int64  `json:"from_line_id"`
	ToLineID   int64  `json:"to_line_id"`
}

// FailoverResult says what a failover did.
type FailoverResult struct {
	// FailoverID is 0 when no user was on the line.
	FailoverID int64  `json:"failover_id"`
	LineID     int64  `json:"line_id"`
	Moved      int    `json:"moved"`
	Stranded   int    `json:"stranded"`
	Moves      []Move `json:"-"`
}

// FailoverTx moves every user whose current line is req.LineID to another
// line, inside tx, in a handful of set-based statements whatever the number
// of users:
//
//  1. the users are recorded (and their rows locked) in failover_moves;
//  2. rounds over the users' own line sets, in set order: each round gives
//     every user still to place their next target line if it has room
//     left (users take room in id order);
//  3. users whose backups are all full or down go to any target line with
//     room, spread one by one across the lines; that line joins their set;
//  4. placed users get their new current line and a ledger row each, in
//     one statement; the rest stay (stranded) and are counted.
//
// A target line is one line_policy lets take new users (active, health ok,
// not held); its room is its user cap (lines.UserCap of its effective
// budget: budget × warm-up × (1 − headroom) ÷ usage) minus its users,
// worked out once in Go from the pool snapshot and passed in as arrays, so
// the cap formula stays in one place. Home line and line set stay as they
// were, so recovery knows where each user belongs.
//
// It takes lines.PoolLockKey for the transaction: signups and other moves
// wait, sends do not (they take no pool lock and only read lines rows; the
// user counts of the lines are written last, just before the commit).
func (s *Service) FailoverTx(ctx context.Context, tx pgx.Tx, req FailoverRequest) (FailoverResult, error) {
	res := FailoverResult{LineID: req.LineID}
	switch req.Reason {
	case LedgerFailover, LedgerOps:
	default:
		return res, fmt.Errorf("failover: unknown reason %q", req.Reason)
	}
	if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
		return res, fmt.Errorf("lock line pool: %w", err)
	}
	usage, err := s.lines.MsgsPerUserPerDay(ctx)
	if err != nil {
		return res, err
	}
	snapshot, err := s.lines.Snapshot(ctx, tx, usage.PerUserPerDay)
	if err != nil {
		return res, err
	}
	var onLine int
	found := false
	for _, l := range snapshot {
		if l.ID == req.LineID {
			found, onLine = true, l.UserCount
		}
	}
	if !found {
		return res, lines.NotFound(req.LineID)
	}
	if onLine == 0 {
		return res, nil
	}
	lineIDs, rooms := roomOf(snapshot, req.LineID)

	now := s.cfg.Now()
	res.FailoverID, err = s.q.FailoverInsert(ctx, tx, store.FailoverInsertParams{
		LineID: req.LineID, Reason: req.Reason, Cause: req.Cause, StartedAt: now,
	})
	if err != nil {
		return res, fmt.Errorf("record failover: %w", err)
	}
	seeded, err := s.q.FailoverMoveSeed(ctx, tx, store.FailoverMoveSeedParams{FailoverID: res.FailoverID, LineID: req.LineID})
	if err != nil {
		return res, fmt.Errorf("read users on line: %w", err)
	}
	rounds, err := s.q.FailoverMoveMaxRank(ctx, tx, res.FailoverID)
	if err != nil {
		return res, fmt.Errorf("size line sets: %w", err)
	}
	placed := int64(0)
	for skip := int32(0); skip < rounds && placed < seeded; skip++ {
		n, err := s.q.FailoverMoveAssignBackups(ctx, tx, store.FailoverMoveAssignBackupsParams{
			FailoverID: res.FailoverID, LineIds: lineIDs, Rooms: rooms, Skip: skip,
		})
		if err != nil {
			return res, fmt.Errorf("place users on backups: %w", err)
		}
		placed += n
	}
	if placed < seeded {
		// The apply statement below counts who moved.
		if _, err := s.q.FailoverMoveAssignPool(ctx, tx, store.FailoverMoveAssignPoolParams{
			FailoverID: res.FailoverID, LineIds: lineIDs, Rooms: rooms,
		}); err != nil {
			return res, fmt.Errorf("place users on the pool: %w", err)
		}
	}
	note := fmt.Sprintf("off line %d", req.LineID)
	rows, err := s.q.FailoverMoveApply(ctx, tx, store.FailoverMoveApplyParams{
		FailoverID: res.FailoverID, Now: now, Reason: req.Reason, Note: &note,
	})
	if err != nil {
		return res, fmt.Errorf("move users: %w", err)
	}
	res.Moves = make([]Move, 0, len(rows))
	for _, r := range rows {
		res.Moves = append(res.Moves, Move{LedgerID: r.LedgerID, UserID: r.UserID, UserRef: r.UserRef, FromLineID: r.FromLineID, ToLineID: r.ToLineID})
	}
	res.Moved, res.Stranded = len(rows), int(seeded)-len(rows)
	if err := s.q.FailoverFinish(ctx, tx, store.FailoverFinishParams{
		ID: res.FailoverID, FinishedAt: s.cfg.Now(), UsersMoved: int32(res.Moved), Stranded: int32(res.Stranded), //nolint:gosec // user counts
	}); err != nil {
		return res, fmt.Errorf("finish failover: %w", err)
	}
	if err := s.bumpCounts(ctx, tx, res.Moves, now); err != nil {
		return res, err
	}
	return res, nil
}

// roomOf lists the target lines (other than failed) with how many more
// users each may take under its cap. A target is a line the line policy
// lets take new users (active, ok, not held), the rule signups follow.
func roomOf(snapshot []lines.Line, failed int64) ([]int64, []int32) {
	var ids []int64
	var rooms []int32
	for _, l := range snapshot {
		if l.ID == failed || !l.MaySignup {
			continue
		}
		ids = append(ids, l.ID)
		rooms = append(rooms, int32(max(l.HeadroomLeft(), 0))) //nolint:gosec // a user cap
	}
	return ids, rooms
}

// RecoverTx brings users back to their home lines inside tx: for each line
// of limits, at most that many of the users who are away from it because of
// a failover (not those ops moved since), each with a ledger row. The caller
// decides which lines may take users back and how many, and must decide
// under lines.PoolLockKey in tx: failing, draining, retiring and holding a
// line all take it, so a choice read before the lock may be stale.
func (s *Service) RecoverTx(ctx context.Context, tx pgx.Tx, limits map[int64]int) ([]Move, error) {
	if len(limits) == 0 {
		return nil, nil
	}
	if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
		return nil, fmt.Errorf("lock line pool: %w", err)
	}
	usage, err := s.lines.MsgsPerUserPerDay(ctx)
	if err != nil {
		return nil, err
	}
	snapshot, err := s.lines.Snapshot(ctx, tx, usage.PerUserPerDay)
	if err != nil {
		return nil, err
	}
	var p store.UserRecoverBatchParams
	for _, l := range snapshot {
		n, ok := limits[l.ID]
		if !ok {
			continue
		}
		// Home users may come back up to the cap, never over it.
		if n = min(n, l.HeadroomLeft()); n > 0 {
			p.LineIds = append(p.LineIds, l.ID)
			p.Limits = append(p.Limits, int32(n)) //nolint:gosec // a user cap
		}
	}
	if len(p.LineIds) == 0 {
		return nil, nil
	}
	now := s.cfg.Now()
	p.Now = now
	rows, err := s.q.UserRecoverBatch(ctx, tx, p)
	if err != nil {
		return nil, fmt.Errorf("bring users home: %w", err)
	}
	moves := make([]Move, 0, len(rows))
	for _, r := range rows {
		moves = append(moves, Move{LedgerID: r.LedgerID, UserID: r.UserID, UserRef: r.UserRef, FromLineID: r.FromLineID, ToLineID: r.ToLineID})
	}
	return moves, s.bumpCounts(ctx, tx, moves, now)
}

// bumpCounts applies the user-count changes of moves.
func (s *Service) bumpCounts(ctx context.Context, tx pgx.Tx, moves []Move, now time.Time) error {
	deltas := map[int64]int32{}
	for _, m := range moves {
		deltas[m.FromLineID]--
		deltas[m.ToLineID]++
	}
	var bump store.LineBumpCountsParams
	for id, d := range deltas {
		if d != 0 {
			bump.LineIds = append(bump.LineIds, id)
			bump.Deltas = append(bump.Deltas, d)
		}
	}
	if len(bump.LineIds) == 0 {
		return nil
	}
	bump.Now = now
	if err := s.q.LineBumpCounts(ctx, tx, bump); err != nil {
		return fmt.Errorf("update user counts: %w", err)
	}
	return nil
}
