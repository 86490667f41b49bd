package messaging_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/pgtest"
)

// The send path's statements run in PL/pgSQL with plans cached for the
// connection until a table they read is analyzed again, made from the
// statistics of that moment. A plan made while a table was all but empty
// must still find its rows by key once the table has grown: a scan costs
// every send time in proportion to the table. This analyzes the near-empty
// tables, drives a connection's first sends, grows every table the send
// path reads by key (no ANALYZE, as between two autovacuum runs), and
// counts the sequential scans that connection's later sends make.
func TestSendPathPlansHoldAsTablesGrow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gw := e.newGateway(t, gwOptions{maxConns: 1})
	gw.svc.SetHealth(continuer{}) // a send to a user without a chat reads their ledger
	ctx := context.Background()
	line, _ := e.addLine(t)
	ref, _ := e.addUser(t, line)
	sendTo := func(ref, key string) {
		t.Helper()
		_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: key})
		require.NoError(t, err)
		gw.svc.Settle()
	}
	send := func(key string) { t.Helper(); sendTo(ref, key) }
	// Statistics that say the tables are all but empty, as a deployment's
	// first autovacuum leaves them: a scan is then the cheapest plan of
	// every read, lookups by key included.
	_, err := e.pool.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)
	// A send that opens the chat, one on the open chat, and a replay: each
	// statement of the path runs (and is planned) once.
	send("first")
	send("second")
	send("first")

	onLine := []any{line}
	for _, g := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO lines (number) SELECT '+1666' || lpad(g::text, 7, '0') FROM generate_series(1, 3000) AS g`, nil},
		{`INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id)
			SELECT 'grown-' || g, '+1777' || lpad(g::text, 7, '0'), 'G' || g, $1, $1 FROM generate_series(1, 5000) AS g`, onLine},
		{`INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
			SELECT u.id, $1, 'chat-' || u.id, now() FROM users AS u WHERE u.user_ref LIKE 'grown-%'`, onLine},
		{`INSERT INTO pair_state (line_id, handle, sends)
			SELECT $1, '+1777' || lpad(g::text, 7, '0'), ARRAY[now()] FROM generate_series(1, 5000) AS g`, onLine},
		{`INSERT INTO message_keys (api_key_id, idempotency_key, message_id, expires_at)
			SELECT 1, 'grown-' || g, gen_random_uuid(), now() + interval '1 day' FROM generate_series(1, 5000) AS g`, nil},
		{`INSERT INTO messages (id, api_key_id, user_id, line_id, handle, intent, state, admitted_at, created_at, updated_at)
			SELECT (left(message_id_floor(now() - interval '1 minute')::text, 24) || lpad(to_hex(g), 12, '0'))::uuid,
			1, u.id, $1, u.handle, 'proactive', 'sent', now(), now(), now()
			FROM generate_series(1, 5000) AS g JOIN users AS u ON u.user_ref = 'grown-' || g`, onLine},
		{`INSERT INTO line_ledger (user_id, reason, to_line_id, line_set, created_at)
			SELECT u.id, r.reason, $1, ARRAY[$1::bigint], now() - r.ago
			FROM users AS u CROSS JOIN (VALUES ('signup', interval '2 days'), ('failover', interval '1 day')) AS r(reason, ago)
			WHERE u.user_ref LIKE 'grown-%'`, onLine},
		{`INSERT INTO line_volume (line_id, minute, outbound)
			SELECT l.id, date_trunc('minute', now()) - g * interval '1 minute', 1
			FROM lines AS l CROSS JOIN generate_series(1, 3) AS g WHERE l.number LIKE '+1666%'`, nil},
	} {
		_, err := e.pool.Exec(ctx, g.sql, g.args...)
		require.NoError(t, err)
	}

	// A user moved onto the line, without a chat there yet: their first
	// send reads the ledger and opens the chat with the continuation.
	moved, _ := e.addUser(t, line)
	_, err = e.pool.Exec(ctx, `INSERT INTO line_ledger (user_id, reason, to_line_id, line_set)
		SELECT id, 'failover', current_line_id, ARRAY[current_line_id] FROM users WHERE user_ref = $1`, moved)
	require.NoError(t, err)

	tables := []string{"lines", "line_window", "users", "chats", "pair_state", "message_keys", "line_volume", "line_ledger", `messages\_p%`}
	before := pgtest.SeqScans(t, gw.pool, tables...)
	send("third")
	send("fourth")
	send("third")
	sendTo(moved, "fifth")
	require.Empty(t, pgtest.NewSeqScans(before, pgtest.SeqScans(t, gw.pool, tables...)), "sequential scans by four sends, by table")
	require.Len(t, e.sim.SendLog(), 6, "five messages and a continuation")
}
