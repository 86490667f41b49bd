package messaging_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
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
