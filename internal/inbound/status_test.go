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
