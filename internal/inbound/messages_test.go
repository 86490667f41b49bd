package inbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// receivedData is a 2026-02-03 message.received from dave to the env's
// line, with the given parts.
func receivedData(id string, parts ...map[string]any) map[string]any {
	return map[string]any{
		"id": id, "direction": "inbound", "service": "iMessage",
		"chat":          map[string]any{"id": "chat_dave", "owner_handle": map[string]any{"handle": envLineNumber, "is_me": true}},
		"sender_handle": map[string]any{"handle": "+14155550161"},
		"parts":         parts,
	}
}

func textPart(text string) map[string]any { return map[string]any{"type": "text", "value": text} }

// subscribe makes a product subscription to message.received, so that
// those events are delivered (and can be read in event_deliveries).
func subscribe(t *testing.T, b inboundEnv) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), `INSERT INTO event_subscriptions (url, event_types, secret, created_at, updated_at)
		VALUES ('http://product.invalid/events', '{message.received}', 'whsec_test', now(), now())`)
	require.NoError(t, err)
}

// An inbound media part is {type, id, filename, mime_type, size_bytes, url}
// on the wire, with no value: product services get its URL as the part's
// value, as the API promises, with its type and file name.
func TestReceivedMediaPartCarriesItsURL(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	subscribe(t, b)
	ctx := context.Background()
	const url = "https://cdn.linqapp.com/a/photo.jpg?sig=abc"
	storeEvent(t, b.pool, "evt_media", "message.received", time.Now().UTC(), receivedData("m_media",
		map[string]any{"type": "media", "id": "att_1", "filename": "photo.jpg", "mime_type": "image/jpeg", "size_bytes": 1234, "url": url}))
	require.NoError(t, b.svc.Process(ctx, "evt_media"))

	var value, mime, name string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(p->>'value', ''), coalesce(p->>'mime_type', ''), coalesce(p->>'filename', '')
		FROM event_deliveries, LATERAL (SELECT payload->'data'->'parts'->0 AS p) x
		WHERE event_type = 'message.received'`).Scan(&value, &mime, &name))
	require.Equal(t, url, value)
	require.Equal(t, "image/jpeg", mime)
	require.Equal(t, "photo.jpg", name)
}

// Linq marks a message it recovered late with reconciled_at; product
// services get it, to hold back automatic replies. Other messages have none.
func TestReceivedPassesOnReconciledAt(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	subscribe(t, b)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	late := receivedData("m_late", textPart("are you there?"))
	late["reconciled_at"] = at
	storeEvent(t, b.pool, "evt_late", "message.received", at, late)
	storeEvent(t, b.pool, "evt_live", "message.received", at, receivedData("m_live", textPart("hi")))
	require.NoError(t, b.svc.Process(ctx, "evt_late"))
	require.NoError(t, b.svc.Process(ctx, "evt_live"))

	got := map[string]*time.Time{}
	rows, err := b.pool.Query(ctx, `SELECT payload->'data'->>'linq_message_id', (payload->'data'->>'reconciled_at')::timestamptz
		FROM event_deliveries WHERE event_type = 'message.received'`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var rec *time.Time
		require.NoError(t, rows.Scan(&id, &rec))
		got[id] = rec
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, 2)
	require.NotNil(t, got["m_late"])
	require.True(t, at.Equal(*got["m_late"]))
	require.Nil(t, got["m_live"])
}

// inboundCount is how many inbound messages the env's line has counted.
func inboundCount(t *testing.T, b inboundEnv) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT coalesce(sum(inbound), 0) FROM line_volume WHERE line_id = $1`, b.lineID).Scan(&n))
	return n
}

// chat.owner_handle, the line, may be null (wire doc §10.4). The message
// still came to a line, found through its chat, or else through its
// sender's current line, and counts in that line's budget and as the
// user's latest inbound.
func TestReceivedWithoutOwnerHandleCountsOnItsLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, chat string
		userMoved  bool // dave's current line is another one now
	}{
		{"LineOfTheChat", "chat_dave", true},
		{"SendersLineWhenTheChatIsUnknown", "chat_elsewhere", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newInboundEnv(t)
			subscribe(t, b)
			ctx := context.Background()
			if c.userMoved {
				_, err := b.pool.Exec(ctx, `WITH l AS (INSERT INTO lines (number) VALUES ('+15550001001') RETURNING id)
					UPDATE users SET current_line_id = (SELECT id FROM l) WHERE id = $1`, b.userID)
				require.NoError(t, err)
			}
			data := receivedData("m_no_owner", textPart("hello"))
			data["chat"] = map[string]any{"id": c.chat, "owner_handle": nil}
			storeEvent(t, b.pool, "evt_no_owner", "message.received", time.Now().UTC(), data)
			require.NoError(t, b.svc.Process(ctx, "evt_no_owner"))

			require.EqualValues(t, 1, inboundCount(t, b))
			var last *time.Time
			var line string
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT last_inbound_at FROM users WHERE id = $1`, b.userID).Scan(&last))
			require.NotNil(t, last)
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT payload->'data'->>'line' FROM event_deliveries
				WHERE event_type = 'message.received'`).Scan(&line))
			require.Equal(t, envLineNumber, line)
		})
	}
}

// A STOP opts its sender out, and any later ordinary message lifts it
// (Linq's rule, wire doc §2). Linq's events come out of order (a STOP whose
// first delivery failed is retried after the next message), so the user
// ends as the later message left them, whichever is processed first.
func TestOptOutFollowsTheLaterMessageInAnyOrder(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Truncate(time.Minute)
	cases := []struct {
		name         string
		stop, plain  time.Time // when each was written
		stopFirst    bool      // processed first
		wantOptedOut bool
	}{
		{"MessageAfterStopProcessedFirst", at, at.Add(20 * time.Second), false, false},
		{"MessageAfterStopProcessedLast", at, at.Add(20 * time.Second), true, false},
		{"StopAfterMessageProcessedFirst", at.Add(20 * time.Second), at, true, true},
		{"StopAfterMessageProcessedLast", at.Add(20 * time.Second), at, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newInboundEnv(t)
			ctx := context.Background()
			storeEvent(t, b.pool, "evt_stop", "message.received", c.stop, receivedData("m_stop", textPart("STOP")))
			storeEvent(t, b.pool, "evt_plain", "message.received", c.plain, receivedData("m_plain", textPart("hi, start again please")))
			order := []string{"evt_plain", "evt_stop"}
			if c.stopFirst {
				order = []string{"evt_stop", "evt_plain"}
			}
			for _, id := range order {
				require.NoError(t, b.svc.Process(ctx, id))
			}
			var optedOut *time.Time
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT opted_out_at FROM users WHERE id = $1`, b.userID).Scan(&optedOut))
			require.Equal(t, c.wantOptedOut, optedOut != nil, "opted_out_at %v", optedOut)
		})
	}
}

// A subscription without ?version=2026-02-03 may get Linq's 2025-01-01
// data (wire doc §10.5): {chat_id, from_handle, recipient_handle (our
// line), message{id, parts}}. The message is processed as the 2026-02-03
// one is: counted on its line, tied to its sender, forwarded with its text.
func TestReceivedIn20250101Format(t *testing.T) {
	t.Parallel()
	b := newInboundEnv(t)
	subscribe(t, b)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	storeVersionedEvent(t, b.pool, "2025-01-01", "evt_2025", "message.received", at, map[string]any{
		"chat_id": "chat_dave", "is_from_me": false, "is_group": false, "service": "iMessage",
		"from_handle":      map[string]any{"handle": "+14155550161"},
		"recipient_handle": map[string]any{"handle": envLineNumber, "is_me": true},
		"received_at":      at,
		"message": map[string]any{"id": "m_2025", "created_at": at, "updated_at": at,
			"parts": []map[string]any{textPart("hello")}},
	})
	require.NoError(t, b.svc.Process(ctx, "evt_2025"))

	require.EqualValues(t, 1, inboundCount(t, b))
	var userRef, handle, line, text, linqID string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(d->>'user_ref', ''), d->>'handle', d->>'line', d->>'text', d->>'linq_message_id'
		FROM event_deliveries, LATERAL (SELECT payload->'data' AS d) x WHERE event_type = 'message.received'`).
		Scan(&userRef, &handle, &line, &text, &linqID))
	require.Equal(t, []string{"dave", "+14155550161", envLineNumber, "hello", "m_2025"}, []string{userRef, handle, line, text, linqID})
}
