package inbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A message carrying a signup code binds its sender's handle to the code's
// user, unless the sender is one of the pool's own lines: that user's
// sends would go line to line, and each line's inbound would reach the
// product as the other's user.
func TestSignupCodeBindsSender(t *testing.T) {
	t.Parallel()
	const code = "LG-BBBBBBBB"
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, sender string
		bound        bool
	}{
		{name: "PersonIsBound", sender: "+14155550177", bound: true},
		{name: "LineOfThePoolIsNotBound", sender: "+15550002000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newInboundEnv(t)
			ctx := context.Background()
			_, err := b.pool.Exec(ctx, `INSERT INTO lines (number) VALUES ('+15550002000')`)
			require.NoError(t, err)
			_, err = b.pool.Exec(ctx, `WITH u AS (
					INSERT INTO users (user_ref, code, home_line_id, current_line_id) VALUES ('erin', $1, $2, $2) RETURNING id)
				INSERT INTO signup_links (token, user_id, body, expires_at)
				SELECT 'tok-erin-0123456789abcdef', id, 'Hi! My code: [' || $1 || ']', $3 FROM u`,
				code, b.lineID, at.Add(time.Hour))
			require.NoError(t, err)
			data := receivedData("msg_code", textPart("Hi! My code: ["+code+"]"))
			data["sender_handle"] = map[string]any{"handle": c.sender}
			data["chat"] = map[string]any{"id": "chat_erin", "owner_handle": map[string]any{"handle": envLineNumber, "is_me": true}}
			storeEvent(t, b.pool, "evt_code", "message.received", at, data)

			require.NoError(t, b.svc.Process(ctx, "evt_code"))
			var handle *string
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT handle FROM users WHERE user_ref = 'erin'`).Scan(&handle))
			if c.bound {
				require.NotNil(t, handle)
				require.Equal(t, c.sender, *handle)
			} else {
				require.Nil(t, handle, "a line's number became a user's handle")
			}
		})
	}
}
