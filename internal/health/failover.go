package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// UserLineChanged is the payload of user.line_changed.
type UserLineChanged struct {
	UserRef    string `json:"user_ref"`
	FromLineID int64  `json:"from_line_id"`
	ToLineID   int64  `json:"to_line_id"`
	// Reason is failover, ops, recovery or retire.
	Reason string `json:"reason"`
}

// Failover moves the users of a line off it now, for ops: the ledger says
// "ops", so recovery leaves them where they went.
func (s *Service) Failover(ctx context.Context, lineID int64) (router.FailoverResult, error) {
	return store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (router.FailoverResult, error) {
		return s.failoverTx(ctx, tx, router.FailoverRequest{LineID: lineID, Reason: router.LedgerOps, Cause: SourceOps + ": failover requested"})
	})
}

// failoverTx runs the move in tx and publishes one user.line_changed per
// moved user in the same transaction.
func (s *Service) failoverTx(ctx context.Context, tx pgx.Tx, req router.FailoverRequest) (router.FailoverResult, error) {
	res, err := s.router.FailoverTx(ctx, tx, req)
	if err != nil {
		return res, fmt.Errorf("fail over line %d: %w", req.LineID, err)
	}
	if err := s.PublishMoves(ctx, tx, res.Moves, req.Reason); err != nil {
		return res, err
	}
	if res.FailoverID == 0 {
		return res, nil
	}
	s.metrics.FailoverUsers.WithLabelValues("moved").Add(float64(res.Moved))
	s.metrics.FailoverUsers.WithLabelValues("stranded").Add(float64(res.Stranded))
	lvl := slog.LevelInfo
	if res.Stranded > 0 {
		lvl = slog.LevelError
	}
	s.logger.Log(ctx, lvl, "users failed over", slog.Int64("line_id", req.LineID), slog.String("reason", req.Reason),
		slog.String("cause", req.Cause), slog.Int("moved", res.Moved), slog.Int("stranded", res.Stranded))
	return res, nil
}

// PublishMoves sends one user.line_changed per move, in tx; its id is
// derived from the ledger row's (events.Row), so a consumer can dedupe.
// The router's permanent moves publish through it (router.PublishMovesWith).
func (s *Service) PublishMoves(ctx context.Context, tx pgx.Tx, moves []router.Move, reason string) error {
	if len(moves) == 0 {
		return nil
	}
	now := s.cfg.Now()
	evs := make([]events.Event, 0, len(moves))
	for _, m := range moves {
		evs = append(evs, events.Event{
			Row:  &events.Row{Table: "line_ledger", ID: m.LedgerID},
			Type: events.TypeUserLineChanged, OccurredAt: now,
			Data: UserLineChanged{UserRef: m.UserRef, FromLineID: m.FromLineID, ToLineID: m.ToLineID, Reason: reason},
		})
	}
	if err := s.pub.Publish(ctx, tx, evs...); err != nil {
		return fmt.Errorf("publish user.line_changed: %w", err)
	}
	return nil
}

// Sweep retries the failover of every failing line that still carries
// users (stranded when it failed, or moved onto since): the pool may have
// room now. Each line is its own transaction, which reads the line again
// under the pool lock: every transition out of a failing state holds that
// lock, so a line that came back while the sweep waited keeps its users.
func (s *Service) Sweep(ctx context.Context) (moved, stranded int, err error) {
	ls, err := s.q.LineHealthList(ctx, s.pool)
	if err != nil {
		return 0, 0, fmt.Errorf("read line health: %w", err)
	}
	for _, l := range ls {
		if !FailsOver(l.HealthState) || l.UserCount == 0 {
			continue
		}
		res, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) (router.FailoverResult, error) {
			if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
				return router.FailoverResult{}, fmt.Errorf("lock line pool: %w", err)
			}
			cur, err := s.q.LineHealthGet(ctx, tx, l.ID)
			if errors.Is(store.Interpret(err), store.ErrNotFound) {
				return router.FailoverResult{}, nil
			}
			if err != nil {
				return router.FailoverResult{}, fmt.Errorf("read line %d: %w", l.ID, err)
			}
			if !FailsOver(cur.HealthState) || cur.UserCount == 0 {
				return router.FailoverResult{}, nil
			}
			cause := "sweep"
			if cur.HealthCause != nil {
				cause = *cur.HealthCause
			}
			return s.failoverTx(ctx, tx, router.FailoverRequest{LineID: l.ID, Reason: router.LedgerFailover, Cause: cause})
		})
		if err != nil {
			return moved, stranded, err
		}
		moved, stranded = moved+res.Moved, stranded+res.Stranded
	}
	return moved, stranded, nil
}
