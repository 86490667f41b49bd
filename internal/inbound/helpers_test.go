package inbound_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/testkit"
)

// inboundEnv is an inbound service on its own database, with line
// +15550001000 and its user dave (handle +14155550161) in chat chat_dave.
type inboundEnv struct {
	pool           *pgxpool.Pool
	svc            *inbound.Service
	health         *recordingHealth
	lineID, userID int64
}

// newService is an inbound service on pool, counting with the real limiter
// (wrapped by wrap, when set) and handing line observations to hl.
func newService(t *testing.T, pool *pgxpool.Pool, wrap func(inbound.InboundRecorder) inbound.InboundRecorder,
	hl inbound.HealthApplier) (*inbound.Service, *metrics.Metrics) {
	t.Helper()
	log, m := testkit.Logger(t), metrics.New()
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
	require.NoError(t, err)
	var rec inbound.InboundRecorder = ratelimit.New(pool, log, m, ratelimit.Config{})
	if wrap != nil {
		rec = wrap(rec)
	}
	return inbound.New(pool, rec, events.New(pool, jobs, log, m, events.Config{}), hl, log, m, inbound.Config{}), m
}

// envLineNumber is the one line of newInboundEnv.
const envLineNumber = "+15550001000"

func newInboundEnv(t *testing.T) inboundEnv {
	t.Helper()
	pool := pgtest.NewPool(t)
	rec := &recordingHealth{}
	svc, _ := newService(t, pool, nil, rec)
	ctx := context.Background()
	var lineID, userID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO lines (number) VALUES ($1) RETURNING id`, envLineNumber).Scan(&lineID))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id)
		VALUES ('dave', '+14155550161', 'LG-AAAAAAAA', $1, $1) RETURNING id`, lineID).Scan(&userID))
	_, err := pool.Exec(ctx, `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at) VALUES ($1, $2, 'chat_dave', now())`, userID, lineID)
	require.NoError(t, err)
	return inboundEnv{pool: pool, svc: svc, health: rec, lineID: lineID, userID: userID}
}

// storeEvent stores a Linq webhook event as intake does.
func storeEvent(t *testing.T, pool *pgxpool.Pool, id, typ string, at time.Time, data any) {
	t.Helper()
	storeVersionedEvent(t, pool, "", id, typ, at, data)
}

// storeVersionedEvent stores a Linq webhook event whose envelope names its
// webhook_version (none when version is empty).
func storeVersionedEvent(t *testing.T, pool *pgxpool.Pool, version, id, typ string, at time.Time, data any) {
	t.Helper()
	env := map[string]any{"event_id": id, "event_type": typ, "created_at": at, "data": data}
	if version != "" {
		env["webhook_version"] = version
	}
	body, err := json.Marshal(env)
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload)
		VALUES ($1, $2, $3, now(), $4)`, id, typ, at, body)
	require.NoError(t, err)
}
