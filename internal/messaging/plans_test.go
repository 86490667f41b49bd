package messaging_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
)

// The send path's statements run in PL/pgSQL with generic plans, cached
// for the life of the connection and made from the statistics the tables
// had when the connection first ran them. A plan made while a table looked
// empty must still find its rows by key once the table has grown: a scan
// there costs every send time in proportion to the table. This drives a
// connection's first sends on near-empty tables, grows every table the
// send path reads by key (no ANALYZE, as between two autovacuum runs), and
// counts the sequential scans that connection's later sends make.
func TestSendPathPlansHoldAsTablesGrow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gw := e.newGateway(t, gwOptions{maxConns: 1})
	ctx := context.Background()
	line, _ := e.addLine(t)
	ref, _ := e.addUser(t, line)
	send := func(key string) {
		t.Helper()
		_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: key})
		require.NoError(t, err)
		gw.svc.Settle()
	}
	// A send that opens the chat, one on the open chat, and a replay: each
	// statement of the path runs (and is planned) once.
	send("first")
	send("second")
	send("first")

	for _, q := range []string{
		`INSERT INTO lines (number) SELECT '+1666' || lpad(g::text, 7, '0') FROM generate_series(1, 3000) AS g`,
		`INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id)
			SELECT 'grown-' || g, '+1777' || lpad(g::text, 7, '0'), 'G' || g, $1, $1 FROM generate_series(1, 5000) AS g`,
		`INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
			SELECT u.id, $1, 'chat-' || u.id, now() FROM users AS u WHERE u.user_ref LIKE 'grown-%'`,
		`INSERT INTO pair_state (line_id, handle, sends)
			SELECT $1, '+1777' || lpad(g::text, 7, '0'), ARRAY[now()] FROM generate_series(1, 5000) AS g`,
		`INSERT INTO message_keys (api_key_id, idempotency_key, message_id, expires_at)
			SELECT 1, 'grown-' || g, gen_random_uuid(), now() + interval '1 day' FROM generate_series(1, 5000) AS g`,
		`INSERT INTO messages (id, api_key_id, user_id, line_id, handle, intent, state, admitted_at, created_at, updated_at)
			SELECT (left(message_id_floor(now() - interval '1 minute')::text, 24) || lpad(to_hex(g), 12, '0'))::uuid,
			1, u.id, $1, u.handle, 'proactive', 'sent', now(), now(), now()
			FROM generate_series(1, 5000) AS g JOIN users AS u ON u.user_ref = 'grown-' || g`,
		`INSERT INTO line_volume (line_id, minute, outbound)
			SELECT l.id, date_trunc('minute', now()) - g * interval '1 minute', 1
			FROM lines AS l CROSS JOIN generate_series(1, 3) AS g WHERE l.number LIKE '+1666%'`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, line)
		}
		_, err := e.pool.Exec(ctx, q, args...)
		require.NoError(t, err)
	}

	before := seqScans(t, gw.pool)
	send("third")
	send("fourth")
	send("third")
	after := seqScans(t, gw.pool)
	scanned := map[string]int64{}
	for table, n := range after {
		if n != before[table] {
			scanned[table] = n - before[table]
		}
	}
	require.Empty(t, scanned, "sequential scans by three sends, by table")
}

// seqScans is the sequential scans of each table the send path reads by
// key, counted up to now by pool's one connection included: its pending
// counts are flushed first (pg_stat_force_next_flush takes effect when the
// connection next goes idle).
func seqScans(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `
		SELECT relname, seq_scan FROM pg_stat_user_tables
		 WHERE relname IN ('lines', 'line_window', 'users', 'chats', 'pair_state', 'message_keys', 'line_volume')
		    OR relname LIKE 'messages\_p%'`)
	require.NoError(t, err)
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		require.NoError(t, rows.Scan(&name, &n))
		out[name] = n
	}
	require.NoError(t, rows.Err())
	return out
}
