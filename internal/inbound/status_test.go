package inbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A status event can be processed before the send's own record of Linq's
// answer (which the caller does not wait for): it brings Linq's id of the
// message, and the message keeps it.
func TestStatusBeforeTheSendsRecord(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	var id string
	require.NoError(t, b.pool.QueryRow(ctx, `INSERT INTO messages (id, api_key_id, idempotency_key, user_id, line_id, handle,
		intent, state, lease_until, admitted_at, created_at, updated_at)
		VALUES (message_id_floor(now()), 1, 'k', $1, $2, '+14155550161', 'proactive', 'pending', now() + interval '1 minute',
		        now(), now(), now())
		RETURNING id::text`, b.userID, b.lineID).Scan(&id))

	storeEvent(t, b.pool, "evt_delivered", "message.delivered", at, map[string]any{
		"id": "linq_m_1", "idempotency_key": id, "direction": "outbound", "delivered_at": at,
		"chat": map[string]any{"id": "chat_dave"},
	})
	require.NoError(t, b.svc.Process(ctx, "evt_delivered"))

	var linqID, status, state string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(linq_message_id, ''), delivery_status, state FROM messages WHERE id = $1`, id).
		Scan(&linqID, &status, &state))
	require.Equal(t, "linq_m_1", linqID)
	require.Equal(t, "delivered", status)
	require.Equal(t, "pending", state, "the send's own record still settles it")
}

// Linq's events about one message can arrive in any order. Each
// message.status event says what its Linq event reported, beside the
// message's furthest status, so a read that arrives before its delivered
// yields "read" then "delivered" (both currently read), never the same
// status twice.
func TestStatusEventsReportTheirOwnStatus(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	ctx := context.Background()
	subscribeToStatus(t, b)
	id := insertSentMessage(t, b, "linq_m_2")
	sent := time.Now().UTC().Truncate(time.Second)
	events := []struct{ id, typ, field string }{
		{"evt_read", "message.read", "read_at"},
		{"evt_sent", "message.sent", "sent_at"},
		{"evt_delivered", "message.delivered", "delivered_at"},
	}
	for i, ev := range events {
		at := sent.Add(time.Duration(3-i) * time.Second)
		storeEvent(t, b.pool, ev.id, ev.typ, at, map[string]any{
			"id": "linq_m_2", "idempotency_key": id, "direction": "outbound", ev.field: at,
			"chat": map[string]any{"id": "chat_dave"},
		})
		require.NoError(t, b.svc.Process(ctx, ev.id))
	}

	got := statusEvents(t, b)
	require.Equal(t, [][2]string{{"read", "read"}, {"sent", "read"}, {"delivered", "read"}}, got)
}

// Linq can report message.delivered after message.failed for the same
// message (the message did arrive). The message then reads delivered, in
// its row and in the message.status events' current_status, so a product
// does not send again what the user already has; the failure's code stays.
func TestDeliveredAfterFailedWins(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	ctx := context.Background()
	subscribeToStatus(t, b)
	id := insertSentMessage(t, b, "linq_m_9")
	at := time.Now().UTC().Truncate(time.Second)
	storeEvent(t, b.pool, "evt_sent", "message.sent", at, map[string]any{
		"id": "linq_m_9", "idempotency_key": id, "direction": "outbound", "sent_at": at, "chat": map[string]any{"id": "chat_dave"},
	})
	storeEvent(t, b.pool, "evt_failed", "message.failed", at.Add(time.Second), map[string]any{
		"code": 4001, "failed_at": at.Add(time.Second), "chat_id": "chat_dave", "message_id": "linq_m_9",
	})
	storeEvent(t, b.pool, "evt_delivered", "message.delivered", at.Add(5*time.Second), map[string]any{
		"id": "linq_m_9", "idempotency_key": id, "direction": "outbound", "sent_at": at,
		"delivered_at": at.Add(5 * time.Second), "chat": map[string]any{"id": "chat_dave"},
	})
	for _, ev := range []string{"evt_sent", "evt_failed", "evt_delivered"} {
		require.NoError(t, b.svc.Process(ctx, ev))
	}

	var status string
	var code *int32
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT delivery_status, error_code FROM messages WHERE id = $1`, id).Scan(&status, &code))
	require.Equal(t, "delivered", status, "a delivery reported after the failure wins")
	require.NotNil(t, code)
	require.EqualValues(t, 4001, *code, "the failure's code stays")

	got := statusEvents(t, b)
	require.Equal(t, [][2]string{{"sent", "sent"}, {"failed", "failed"}, {"delivered", "delivered"}}, got)
}

// A status event in Linq's 2025-01-01 format (wire doc §10.5) carries the
// message id and the send's idempotency key in other places; it updates
// the message as the 2026-02-03 one does.
func TestStatusIn20250101Format(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	ctx := context.Background()
	id := insertSentMessage(t, b, "linq_m_3")
	at := time.Now().UTC().Truncate(time.Second)
	storeVersionedEvent(t, b.pool, "2025-01-01", "evt_delivered", "message.delivered", at, map[string]any{
		"chat_id": "chat_dave", "is_from_me": true, "is_group": false, "service": "iMessage", "idempotency_key": id,
		"from_handle": map[string]any{"handle": envLineNumber, "is_me": true}, "recipient_handle": nil,
		"message_id": "linq_m_3", "delivered_at": at,
		"message": map[string]any{"id": "linq_m_3", "sent_at": at, "delivered_at": at, "is_delivered": true},
	})
	require.NoError(t, b.svc.Process(ctx, "evt_delivered"))

	var status string
	var delivered *time.Time
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT delivery_status, delivered_at FROM messages WHERE id = $1`, id).Scan(&status, &delivered))
	require.Equal(t, "delivered", status)
	require.NotNil(t, delivered)
	require.True(t, at.Equal(*delivered))
}

// subscribeToStatus subscribes a product endpoint to message.status.
func subscribeToStatus(t *testing.T, b inboundEnv) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), `INSERT INTO event_subscriptions (url, event_types, secret, created_at, updated_at)
		VALUES ('http://product.invalid/events', '{message.status}', 'whsec_test', now(), now())`)
	require.NoError(t, err)
}

// insertSentMessage records a send Linq accepted as linqID, still queued.
func insertSentMessage(t *testing.T, b inboundEnv, linqID string) string {
	t.Helper()
	var id string
	require.NoError(t, b.pool.QueryRow(context.Background(), `INSERT INTO messages (id, api_key_id, idempotency_key, user_id, line_id, handle,
		intent, state, admitted_at, created_at, updated_at, linq_message_id, delivery_status)
		VALUES (message_id_floor(now()), 1, 'k', $1, $2, '+14155550161', 'proactive', 'sent', now(), now(), now(), $3, 'queued')
		RETURNING id::text`, b.userID, b.lineID, linqID).Scan(&id))
	return id
}

// statusEvents is each message.status event's status and current_status,
// in the order they were published.
func statusEvents(t *testing.T, b inboundEnv) [][2]string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT payload->'data'->>'status', payload->'data'->>'current_status'
		FROM event_deliveries WHERE event_type = 'message.status' ORDER BY id`)
	require.NoError(t, err)
	var got [][2]string
	for rows.Next() {
		var status, current string
		require.NoError(t, rows.Scan(&status, &current))
		got = append(got, [2]string{status, current})
	}
	require.NoError(t, rows.Err())
	return got
}

// A status event whose chat says the user opted out updates its message
// before it opts the user out, as every batch locks messages rows before
// users rows (lock order): it must not hold the user while it waits for a
// message that a send's outcome record holds.
func TestStatusOptOutLocksTheMessageFirst(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	ctx := context.Background()
	id := insertSentMessage(t, b, "linq_m_3")
	at := time.Now().UTC().Truncate(time.Second)
	storeEvent(t, b.pool, "evt_optout", "message.delivered", at, map[string]any{
		"id": "linq_m_3", "idempotency_key": id, "direction": "outbound", "delivered_at": at,
		"chat": map[string]any{"id": "chat_dave", "health_status": map[string]any{"status": "OPTED_OUT"}},
	})

	holder, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `SELECT 1 FROM messages WHERE id = $1 FOR UPDATE`, id)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- b.svc.Process(ctx, "evt_optout") }()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 10*time.Second, 5*time.Millisecond, "the batch did not wait for the message")
	_, err = holder.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE NOWAIT`, b.userID)
	require.NoError(t, err, "the batch holds the user while it waits for the message")
	require.NoError(t, holder.Rollback(ctx))
	require.NoError(t, <-done)

	var optedOut bool
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT opted_out_at IS NOT NULL FROM users WHERE id = $1`, b.userID).Scan(&optedOut))
	require.True(t, optedOut)
}
