package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/linegate/linegate/internal/store"
)

// RecordInbound counts one inbound message on lineID at `at` toward the
// line's rolling-24h budget (inbound is always counted, never refused) and,
// when userID is known, records it as the user's last inbound message, which
// opens their reply window.
func (l *Limiter) RecordInbound(ctx context.Context, lineID int64, userID *int64, at time.Time) error {
	return l.RecordInboundTx(ctx, l.pool, lineID, userID, at)
}

// RecordInboundTx is RecordInbound inside the caller's transaction (or on
// any store.DBTX): the webhook processor counts a message.received in the
// same transaction that marks the event processed, so a redelivered or
// retried event is counted exactly once.
func (l *Limiter) RecordInboundTx(ctx context.Context, db store.DBTX, lineID int64, userID *int64, at time.Time) error {
	if at.IsZero() {
		at = l.now()
	}
	err := l.q.LineVolumeRecordInbound(ctx, db, store.LineVolumeRecordInboundParams{
		LineID: lineID, At: Micro(at), UserID: userID,
	})
	if err != nil {
		return fmt.Errorf("record inbound on line %d: %w", lineID, err)
	}
	return nil
}
