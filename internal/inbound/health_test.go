package inbound_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
)

// recordingHealth is line health as far as these tests need it: it keeps
// what it was handed.
type recordingHealth struct {
	mu  sync.Mutex
	got []health.Input
}

func (r *recordingHealth) Apply(_ context.Context, _ pgx.Tx, in health.Input) error {
	if in.Number != "" && in.Number != envLineNumber {
		// As line health answers for a number the pool does not hold.
		return apperr.New(apperr.NotFound, "line_not_found", "no line with number "+in.Number)
	}
	r.mu.Lock()
	r.got = append(r.got, in)
	r.mu.Unlock()
	return nil
}

func TestLineObservationsGoToHealth(t *testing.T) {
	t.Parallel()
	setup, store := newInboundEnv, storeEvent
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	// A number the pool does not hold, or values the wire does not define,
	// finish the event: a retry would learn nothing more.
	t.Run("StatusOfAnUnknownNumberFinishes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		store(t, b.pool, "evt_other", "phone_number.status_updated", at, map[string]any{
			"phone_number": "+19999999999", "changed_at": at, "previous_status": "ACTIVE", "new_status": "FLAGGED",
		})
		require.NoError(t, b.svc.Process(context.Background(), "evt_other"))
		var outcome string
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT outcome FROM webhook_events WHERE event_id = 'evt_other' AND processed_at IS NOT NULL`).Scan(&outcome))
		require.Equal(t, "unknown_line", outcome)
	})

	t.Run("UnknownStatusIsNotAppliedAndUnknownReputationIsAtRisk", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		store(t, b.pool, "evt_odd", "phone_number.status_updated", at, map[string]any{
			"phone_number": envLineNumber, "changed_at": at, "previous_status": "ACTIVE", "new_status": "EXPLODED",
			"previous_reputation": "HEALTHY", "new_reputation": "GLOWING",
		})
		require.NoError(t, b.svc.Process(context.Background(), "evt_odd"))
		require.Equal(t, []health.Input{{
			Number: envLineNumber, Source: health.SourceWebhook, At: at, Reputation: "AT_RISK", EventID: "evt_odd",
		}}, b.health.got)
	})

	t.Run("StatusUpdatedIsHandedOnceWithItsEventTime", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		store(t, b.pool, "evt_flag", "phone_number.status_updated", at, map[string]any{
			"phone_number": "+15550001000", "changed_at": at, "previous_status": "ACTIVE", "new_status": "FLAGGED",
			"previous_reputation": "HEALTHY", "new_reputation": "AT_RISK",
		})
		require.NoError(t, b.svc.Process(context.Background(), "evt_flag"))
		require.NoError(t, b.svc.Process(context.Background(), "evt_flag"))
		require.Equal(t, []health.Input{{
			Number: "+15550001000", Source: health.SourceWebhook, At: at, ServiceStatus: "FLAGGED",
			Reputation: "AT_RISK", EventID: "evt_flag",
		}}, b.health.got)
	})

	t.Run("IneligibleFailureMarksTheChatsLine", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		store(t, b.pool, "evt_fail", "message.failed", at, map[string]any{
			"code": 2027, "failed_at": at, "chat_id": "chat_dave", "message_id": "m_1",
		})
		require.NoError(t, b.svc.Process(context.Background(), "evt_fail"))
		require.Equal(t, []health.Input{{
			LineID: b.lineID, Source: health.SourceFailed, At: at, Ineligible: true, EventID: "evt_fail",
		}}, b.health.got)
	})

	t.Run("OtherFailuresAreNotLineHealth", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		store(t, b.pool, "evt_fail_other", "message.failed", at, map[string]any{
			"code": 4001, "failed_at": at, "chat_id": "chat_dave", "message_id": "m_2",
		})
		require.NoError(t, b.svc.Process(context.Background(), "evt_fail_other"))
		require.Empty(t, b.health.got)
	})

	t.Run("UnknownTypeIsStoredAndAcknowledged", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		store(t, b.pool, "evt_unknown", "call.started", at, map[string]any{"x": 1})
		require.NoError(t, b.svc.Process(context.Background(), "evt_unknown"))
		var outcome string
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT outcome FROM webhook_events WHERE event_id = 'evt_unknown' AND processed_at IS NOT NULL`).Scan(&outcome))
		require.Equal(t, "ignored", outcome)
	})
}

// Every batch takes the pool lock before any row: a move holding it locks
// its users and lines in an order of its own, and would otherwise wait for
// a row the batch locked while the batch waits for one the move holds. A
// batch that may change a line's health (and so move users) takes it
// exclusively, any other shared.
func TestBatchTakesThePoolLockFirst(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		event string
		data  map[string]any
		// row is a row the batch locks once it has the pool lock.
		row    string
		health int // line health inputs applied
	}{
		{
			name: "HealthEventTakesItExclusively", event: "phone_number.status_updated",
			data: map[string]any{
				"phone_number": envLineNumber, "changed_at": at, "previous_status": "ACTIVE", "new_status": "ACTIVE",
				"previous_reputation": "HEALTHY", "new_reputation": "HEALTHY",
			},
			row: `SELECT id FROM lines WHERE id = $1 FOR UPDATE NOWAIT`, health: 1,
		},
		{
			name: "InboundMessageTakesItShared", event: "message.received", data: receivedData("msg_in_1", textPart("hi")),
			row: `SELECT w.line_id FROM line_window AS w WHERE w.line_id = $1 FOR UPDATE NOWAIT`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newInboundEnv(t)
			ctx := context.Background()
			storeEvent(t, b.pool, "evt_1", c.event, at, c.data)

			mover, err := b.pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = mover.Rollback(ctx) }()
			_, err = mover.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lines.PoolLockKey)
			require.NoError(t, err)

			done := make(chan error, 1)
			go func() { done <- b.svc.Process(ctx, "evt_1") }()
			require.Eventually(t, func() bool {
				var n int
				require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
					WHERE a.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted`).Scan(&n))
				return n > 0
			}, 10*time.Second, 10*time.Millisecond, "the batch did not wait for the pool lock")
			_, err = mover.Exec(ctx, c.row, b.lineID)
			require.NoError(t, err, "the waiting batch holds a row")
			require.NoError(t, mover.Commit(ctx))
			require.NoError(t, <-done)
			require.Len(t, b.health.got, c.health)
			var processed bool
			require.NoError(t, b.pool.QueryRow(ctx,
				`SELECT processed_at IS NOT NULL FROM webhook_events WHERE event_id = 'evt_1'`).Scan(&processed))
			require.True(t, processed)
		})
	}
}
