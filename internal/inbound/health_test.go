package inbound_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/testkit"
)

// recordingHealth is line health as far as these tests need it: it keeps
// what it was handed.
type recordingHealth struct {
	mu  sync.Mutex
	got []health.Input
}

func (r *recordingHealth) Apply(_ context.Context, _ pgx.Tx, in health.Input) error {
	r.mu.Lock()
	r.got = append(r.got, in)
	r.mu.Unlock()
	return nil
}

func TestLineObservationsGoToHealth(t *testing.T) {
	t.Parallel()
	type bundle struct {
		pool   *pgxpool.Pool
		svc    *inbound.Service
		health *recordingHealth
		lineID int64
	}
	setup := func(t *testing.T) bundle {
		t.Helper()
		pool := pgtest.NewPool(t)
		log, m := testkit.Logger(t), metrics.New()
		jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
		require.NoError(t, err)
		ev := events.New(pool, jobs, log, m, events.Config{})
		rec := &recordingHealth{}
		svc := inbound.New(pool, ratelimit.New(pool, log, m, ratelimit.Config{}), ev, rec, log, m, inbound.Config{})
		ctx := context.Background()
		var lineID, userID int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO lines (number) VALUES ('+15550001000') RETURNING id`).Scan(&lineID))
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id)
			VALUES ('dave', '+14155550161', 'LG-AAAAAAAA', $1, $1) RETURNING id`, lineID).Scan(&userID))
		_, err = pool.Exec(ctx, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at) VALUES ($1, $2, 'chat_dave', now())`, userID, lineID)
		require.NoError(t, err)
		return bundle{pool: pool, svc: svc, health: rec, lineID: lineID}
	}
	store := func(t *testing.T, pool *pgxpool.Pool, id, typ string, at time.Time, data any) {
		t.Helper()
		body, err := json.Marshal(map[string]any{"event_id": id, "event_type": typ, "created_at": at, "data": data})
		require.NoError(t, err)
		_, err = pool.Exec(context.Background(), `INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload)
			VALUES ($1, $2, $3, now(), $4)`, id, typ, at, body)
		require.NoError(t, err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

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
