package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/store"
)

// Quarantine is an active loop-guard quarantine of a (line, handle) pair.
type Quarantine struct {
	ID        int64     `json:"id"`
	LineID    int64     `json:"line_id"`
	Handle    string    `json:"handle"`
	Hits      int       `json:"hits"`
	StartedAt time.Time `json:"started_at"`
	Until     time.Time `json:"until"`
}

// Quarantines lists the active quarantines, oldest first.
func (l *Limiter) Quarantines(ctx context.Context) ([]Quarantine, error) {
	rows, err := l.q.PairQuarantineListActive(ctx, l.pool)
	if err != nil {
		return nil, fmt.Errorf("list quarantines: %w", err)
	}
	out := make([]Quarantine, 0, len(rows))
	for _, r := range rows {
		out = append(out, Quarantine{ID: r.ID, LineID: r.LineID, Handle: r.Handle, Hits: int(r.Hits),
			StartedAt: r.StartedAt, Until: r.Until})
	}
	return out, nil
}

// Release lifts the active quarantine of a pair at once; by names who did
// it (the ops API key). A pair that is not quarantined is a not_found error.
func (l *Limiter) Release(ctx context.Context, lineID int64, handle, by string) (Quarantine, error) {
	q, err := store.WithTxV(ctx, l.pool, func(ctx context.Context, tx pgx.Tx) (Quarantine, error) {
		if _, err := l.q.PairStateRelease(ctx, tx, store.PairStateReleaseParams{LineID: lineID, Handle: handle}); err != nil {
			return Quarantine{}, store.Interpret(err)
		}
		rows, err := l.q.PairQuarantineRelease(ctx, tx, store.PairQuarantineReleaseParams{
			LineID: lineID, Handle: handle, ReleasedBy: by,
		})
		if err != nil {
			return Quarantine{}, err
		}
		q := Quarantine{LineID: lineID, Handle: handle}
		if len(rows) > 0 {
			r := rows[0]
			q = Quarantine{ID: r.ID, LineID: r.LineID, Handle: r.Handle, Hits: int(r.Hits), StartedAt: r.StartedAt, Until: r.Until}
		}
		return q, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return Quarantine{}, apperr.New(apperr.NotFound, "quarantine_not_found", "this line and handle are not quarantined")
	}
	if err != nil {
		return Quarantine{}, fmt.Errorf("release quarantine on line %d: %w", lineID, err)
	}
	l.log.InfoContext(ctx, "pair quarantine released", slog.Int64("line_id", lineID),
		slog.String("handle", MaskHandle(handle)), slog.String("by", by))
	return q, nil
}
