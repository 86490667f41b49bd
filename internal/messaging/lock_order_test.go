package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/store"
)

// Every writer of the limits takes its lines' rows before its pairs' rows.
// A batch that resends one message (a takeover) and admits a new send on a
// lower line must therefore not hold the resend's pair while it waits for
// that line: a writer holding the line and then taking the pair would wait
// for the batch while the batch waits for it.
func TestTakeoverLockOrder(t *testing.T) {
	t.Parallel()

	t.Run("ResendTakesItsPairAfterTheLines", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw := e.newGateway(t, gwOptions{})
		low, _ := e.addLine(t)
		high, _ := e.addLine(t)
		lowRef, _ := e.addUser(t, low)
		highRef, highHandle := e.addUser(t, high)
		ctx := context.Background()
		resend := messaging.SendRequest{APIKeyID: 1, UserRef: highRef, Parts: text("first"), IdempotencyKey: "k"}

		e.sendUnknown(t, gw, resend)

		// Another writer holds the lower line, as an admission on it does
		// before it takes its pairs. It finds a deadlock in 50 ms, so that it
		// is the one to fail when there is one.
		other, err := e.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = other.Rollback(ctx) }()
		_, err = other.Exec(ctx, `SET LOCAL deadlock_timeout = '50ms'`)
		require.NoError(t, err)
		_, err = other.Exec(ctx, `SELECT 1 FROM line_window WHERE line_id = $1 FOR UPDATE`, low)
		require.NoError(t, err)

		type result struct {
			outcomes []string
			err      error
		}
		done := make(chan result, 1)
		go func() {
			out, err := gw.svc.AdmitBatch(ctx, []messaging.SendRequest{resend,
				{APIKeyID: 1, UserRef: lowRef, Parts: text("new")}})
			done <- result{out, err}
		}()
		require.Eventually(t, func() bool {
			var waiting bool
			err := e.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()
				  AND wait_event_type = 'Lock' AND query LIKE '%send_admit_many(%')`).Scan(&waiting)
			return err == nil && waiting
		}, 10*time.Second, 5*time.Millisecond, "the batch waits for the lower line")

		_, err = other.Exec(ctx, `SELECT 1 FROM pair_state WHERE line_id = $1 AND handle = $2 FOR UPDATE`, high, highHandle)
		require.NoError(t, err, "the batch held the resend's pair while it waited for a line")
		require.NoError(t, other.Commit(ctx))

		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, []string{"ok", "ok"}, r.outcomes)
	})

	// The resend's stamp, back in the window once it had left it, counts
	// for the new sends decided in the same call.
	t.Run("MovedStampCountsForTheBatchsNewSends", func(t *testing.T) {
		t.Parallel()
		e, ft := clockEnv(t)
		gw := e.newGateway(t, gwOptions{})
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		resend := messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("first"), IdempotencyKey: "k"}

		e.sendUnknown(t, gw, resend)
		ft.db.Advance(61 * time.Second) // its stamp leaves the window
		for i := range 29 {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("more")})
			require.NoError(t, err, "send %d", i)
		}

		out, err := gw.svc.AdmitBatch(ctx, []messaging.SendRequest{resend,
			{APIKeyID: 1, UserRef: ref, Parts: text("one too many")}})
		require.NoError(t, err)
		require.Equal(t, []string{"ok", "pair_limit"}, out, "the resend is the window's 30th")
	})
}

// The outcome record locks rows in the order every path takes them: its
// messages rows first, by id (the order a webhook batch updates their
// statuses in, and admissions lock a message they take over before its
// line), then its pairs; and its users FOR KEY SHARE, which the no-key
// updates of a user (an inbound message, an opt-out, a move) do not wait
// for.
func TestRecordLockOrder(t *testing.T) {
	t.Parallel()

	type bundle struct {
		*env
		line int64
		p    store.MessageMarkSentManyParams
	}
	// setup sends one message to each of two users on one line, the first
	// to the user whose handle sorts last, so that the record's pair order
	// is the reverse of its messages' id order; p records both again.
	setup := func(t *testing.T) bundle {
		b := bundle{env: newEnv(t)}
		gw := b.newGateway(t, gwOptions{})
		b.line, _ = b.addLine(t)
		refA, handleA := b.addUser(t, b.line)
		refB, handleB := b.addUser(t, b.line)
		first, second := refA, refB
		if handleA < handleB {
			first, second = refB, refA
		}
		for _, ref := range []string{first, second} {
			_, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
			require.NoError(t, err)
		}
		gw.svc.Settle()
		rows, err := b.pool.Query(context.Background(),
			`SELECT id, line_id, handle, linq_chat_id, linq_message_id FROM messages ORDER BY id`)
		require.NoError(t, err)
		for rows.Next() {
			var id pgtype.UUID
			var line int64
			var handle, chat, linqID string
			require.NoError(t, rows.Scan(&id, &line, &handle, &chat, &linqID))
			b.p.Ids, b.p.LineIds, b.p.Handles = append(b.p.Ids, id), append(b.p.LineIds, line), append(b.p.Handles, handle)
			b.p.LinqChatIds, b.p.LinqMessageIds = append(b.p.LinqChatIds, chat), append(b.p.LinqMessageIds, linqID)
			b.p.TraceIds, b.p.DeliveryStatuses = append(b.p.TraceIds, ""), append(b.p.DeliveryStatuses, "queued")
			b.p.NewChats = append(b.p.NewChats, true)
		}
		require.NoError(t, rows.Err())
		require.Len(t, b.p.Ids, 2)
		require.Greater(t, b.p.Handles[0], b.p.Handles[1], "the lower id's pair sorts last")
		b.p.Flush = true
		return b
	}
	record := func(ctx context.Context, b bundle) error {
		_, err := store.New().MessageMarkSentMany(ctx, b.pool, b.p)
		return err
	}

	t.Run("MessagesRowsGoFirstByIDBeforeAnyPair", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		holder, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = holder.Rollback(ctx) }()
		_, err = holder.Exec(ctx, `SELECT 1 FROM messages WHERE id = $1 FOR UPDATE`, b.p.Ids[0])
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() { done <- record(ctx, b) }()
		require.Eventually(t, func() bool {
			var waiting bool
			err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()
				  AND wait_event_type = 'Lock' AND query LIKE '%message_mark_sent_many(%')`).Scan(&waiting)
			return err == nil && waiting
		}, 10*time.Second, 5*time.Millisecond, "the record waits for the lower id's row")

		_, err = holder.Exec(ctx, `SELECT 1 FROM messages WHERE id = $1 FOR UPDATE NOWAIT`, b.p.Ids[1])
		require.NoError(t, err, "the record holds the higher id's row while it waits for the lower one")
		_, err = holder.Exec(ctx, `SELECT 1 FROM pair_state WHERE line_id = $1 FOR UPDATE NOWAIT`, b.line)
		require.NoError(t, err, "the record holds a pair while it waits for a message")
		require.NoError(t, holder.Rollback(ctx))
		require.NoError(t, <-done)
	})

	t.Run("UsersNoKeyUpdateDoesNotHoldItUp", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		holder, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = holder.Rollback(ctx) }()
		n, err := holder.Exec(ctx, `UPDATE users SET last_inbound_at = now() WHERE handle = ANY ($1)`, b.p.Handles)
		require.NoError(t, err)
		require.EqualValues(t, 2, n.RowsAffected())

		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		require.NoError(t, record(rctx, b), "the record waited for an inbound message's update of its users")
	})
}
