package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/store"
)

// Recover is one recovery tick: every line that has been ok for the dwell
// time (or that ops re-activated), is not held and has users away takes
// back at most RecoveryPerMinute of them, under its cap. Users ops moved
// by hand stay where they are.
//
// The lines are read twice: once without a lock, so that a tick with
// nothing to do takes no pool lock, and again under it, since a line may
// fail, be drained or retired, or be held while the tick waits for the
// lock (each of those holds it), and must then keep its users away.
func (s *Service) Recover(ctx context.Context) (int, error) {
	rows, err := s.q.LineHealthRecoverable(ctx, s.pool, s.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("read recoverable lines: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	nLines := 0
	moves, err := store.WithTxV(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) ([]router.Move, error) {
		if err := s.q.LinePoolLock(ctx, tx, lines.PoolLockKey); err != nil {
			return nil, fmt.Errorf("lock line pool: %w", err)
		}
		rows, err := s.q.LineHealthRecoverable(ctx, tx, s.cfg.Now())
		if err != nil {
			return nil, fmt.Errorf("read recoverable lines: %w", err)
		}
		nLines = len(rows)
		limits := make(map[int64]int, len(rows))
		for _, r := range rows {
			limits[r.ID] = s.cfg.RecoveryPerMinute
		}
		moves, err := s.router.RecoverTx(ctx, tx, limits)
		if err != nil {
			return nil, err
		}
		return moves, s.PublishMoves(ctx, tx, moves, router.LedgerRecovery)
	})
	if err != nil {
		return 0, fmt.Errorf("recover users: %w", err)
	}
	if len(moves) > 0 {
		s.metrics.FailoverUsers.WithLabelValues("recovered").Add(float64(len(moves)))
		s.logger.InfoContext(ctx, "users back on their home line", slog.Int("users", len(moves)), slog.Int("lines", nLines))
	}
	return len(moves), nil
}

// RecoverNow is ops re-activating a line: it is no longer held and its
// users may come back from the next recovery tick on, without the dwell.
// The line must be ok.
func (s *Service) RecoverNow(ctx context.Context, lineID int64) error {
	return store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		l, err := s.q.LineHealthLock(ctx, tx, lineID)
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return lines.NotFound(lineID)
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", lineID, err)
		}
		if l.HealthState != StateOK {
			return apperr.New(apperr.Conflict, "line_not_healthy",
				fmt.Sprintf("line %d is %s; only an ok line can take its users back", lineID, l.HealthState))
		}
		if l.AdminState == lines.AdminRetired {
			// Recovery brings users home to active lines only; a retired
			// line's users moved for good.
			return apperr.New(apperr.Conflict, "line_retired",
				fmt.Sprintf("line %d is retired; activate it (PATCH admin_state) before recovering its users", lineID))
		}
		if _, err := s.q.LineHealthRecoverNow(ctx, tx, store.LineHealthRecoverNowParams{Now: s.cfg.Now(), ID: lineID}); err != nil {
			return fmt.Errorf("re-activate line %d: %w", lineID, err)
		}
		s.logger.InfoContext(ctx, "line re-activated by ops", slog.Int64("line_id", lineID))
		return nil
	})
}
