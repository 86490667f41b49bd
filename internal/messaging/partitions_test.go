package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
)

func TestMessagePartitions(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) (*env, *gateway) {
		e := newEnv(t)
		return e, e.newGateway(t, gwOptions{msg: func(c *messaging.Config) { c.MessagesRetention = 30 * 24 * time.Hour }})
	}
	partitions := func(t *testing.T, e *env) map[string]bool {
		rows, err := e.pool.Query(context.Background(), `SELECT c.relname FROM pg_inherits AS i
			JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass`)
		require.NoError(t, err)
		got := map[string]bool{}
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			got[n] = true
		}
		require.NoError(t, rows.Err())
		return got
	}
	day := func(d time.Time) string { return "messages_p" + d.UTC().Format("20060102") }

	t.Run("DaysAheadExistAndDaysPastTheRetentionAreDropped", func(t *testing.T) {
		t.Parallel()
		e, gw := setup(t)
		ctx := context.Background()
		today := time.Now().UTC().Truncate(24 * time.Hour)
		old := today.Add(-40 * 24 * time.Hour)
		kept := today.Add(-20 * 24 * time.Hour)
		for _, d := range []time.Time{old, kept} {
			_, err := e.pool.Exec(ctx, `SELECT message_partitions($1::date, 0, '-infinity')`, d)
			require.NoError(t, err)
		}
		// A message in each old day.
		for _, d := range []time.Time{old, kept} {
			_, err := e.pool.Exec(ctx, `INSERT INTO messages (id, api_key_id, user_id, line_id, handle, intent, state, admitted_at, created_at, updated_at)
				VALUES (message_id_floor($1::timestamptz + interval '1 hour'), 1, 1, 1, '+15550000000', 'proactive', 'sent', $1, $1, $1)`, d)
			require.NoError(t, err)
		}

		created, dropped, err := gw.svc.MaintainPartitions(ctx)
		require.NoError(t, err)
		require.Empty(t, created, "the migration made the week ahead")
		require.ElementsMatch(t, []string{day(old.Add(-24 * time.Hour)), day(old)}, dropped)
		got := partitions(t, e)
		for d := today.Add(-24 * time.Hour); !d.After(today.Add(7 * 24 * time.Hour)); d = d.Add(24 * time.Hour) {
			require.True(t, got[day(d)], "partition of %s", d.Format(time.DateOnly))
		}
		require.True(t, got[day(kept)])
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n))
		require.Equal(t, 1, n, "the message within the retention stays")
	})

	t.Run("AnIdempotencyKeyOutlivesNothingButItsTTLAndAPendingSendKeepsIt", func(t *testing.T) {
		t.Parallel()
		e, gw := setup(t)
		ctx := context.Background()
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		first, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: "k-sent"})
		require.NoError(t, err)
		pending, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: "k-pending"})
		require.NoError(t, err)
		gw.svc.Settle() // the answers are on record before one is made pending again
		_, err = e.pool.Exec(ctx, `UPDATE messages SET state = 'pending' WHERE id = $1`, pending.ID)
		require.NoError(t, err)
		_, err = e.pool.Exec(ctx, `UPDATE message_keys SET expires_at = now() - interval '1 second'`)
		require.NoError(t, err)

		n, err := gw.svc.CleanupIdempotency(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		var keys []string
		rows, err := e.pool.Query(ctx, `SELECT idempotency_key FROM message_keys`)
		require.NoError(t, err)
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			keys = append(keys, k)
		}
		require.Equal(t, []string{"k-pending"}, keys)
		// The expired key is free again: a send with it is a new message.
		again, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: "k-sent"})
		require.NoError(t, err)
		require.NotEqual(t, first.ID, again.ID)
	})
}
