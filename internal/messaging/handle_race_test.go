package messaging_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/messaging"
)

// changeHandle locks a user FOR UPDATE, rewrites their handle and drops
// their chats, as an import that changes the handle does, in tx.
const changeHandle = `WITH l AS MATERIALIZED (SELECT id FROM users WHERE user_ref = $1 FOR UPDATE),
	u AS (UPDATE users SET handle = $2 FROM l WHERE users.id = l.id RETURNING users.id)
	DELETE FROM chats WHERE user_id = (SELECT id FROM u)`

// TestHandleChangeDuringASend: a send in flight for a user's old handle must
// not record a chat for it once an import changed the handle.
func TestHandleChangeDuringASend(t *testing.T) {
	t.Parallel()

	type bundle struct {
		*env
		gw          *gateway
		ref, handle string
		// atLinq runs once, when the send's chat creation reaches Linq.
		atLinq atomic.Pointer[func()]
	}
	setup := func(t *testing.T) *bundle {
		b := &bundle{}
		b.env = newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if f := b.atLinq.Swap(nil); f != nil && r.Method == http.MethodPost && r.URL.Path == "/v3/chats" {
					(*f)()
				}
				next.ServeHTTP(w, r)
			})
		}})
		line, _ := b.addLine(t)
		b.ref, b.handle = b.addUser(t, line)
		b.gw = b.newGateway(t, gwOptions{})
		return b
	}
	chats := func(t *testing.T, b *bundle) int {
		var n int
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM chats c JOIN users u ON u.id = c.user_id WHERE u.user_ref = $1`, b.ref).Scan(&n))
		return n
	}
	const newHandle = "+14155550999"

	t.Run("ChangeCommittedWhileTheSendIsAtLinqLeavesNoChatForTheOldHandle", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var importErr error
		f := func() { _, importErr = b.pool.Exec(context.Background(), changeHandle, b.ref, newHandle) }
		b.atLinq.Store(&f)

		_, err := b.gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		require.NoError(t, err)
		require.NoError(t, importErr)
		require.Zero(t, chats(t, b), "no chat recorded for the old handle")

		// The next send opens a chat with the new handle.
		_, err = b.gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("again")})
		require.NoError(t, err)
		log := b.sim.SendLog()
		require.Equal(t, []string{b.handle}, log[0].To)
		require.Equal(t, []string{newHandle}, log[len(log)-1].To)
		require.Equal(t, 1, chats(t, b))
	})

	t.Run("ChangeInProgressWhenTheAnswerIsRecordedLeavesNoChatForTheOldHandle", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// The import has changed the handle but not committed when Linq's
		// answer is recorded; it commits once the recording waits for it.
		done := make(chan error, 1)
		f := func() {
			ctx := context.Background()
			tx, err := b.pool.Begin(ctx)
			if err != nil {
				done <- err
				return
			}
			if _, err := tx.Exec(ctx, changeHandle, b.ref, newHandle); err != nil {
				_ = tx.Rollback(ctx)
				done <- err
				return
			}
			go func() { done <- commitOnceBlocked(ctx, b.pool, tx.Commit) }()
		}
		b.atLinq.Store(&f)

		_, err := b.gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		require.NoError(t, err)
		require.NoError(t, <-done)
		require.Zero(t, chats(t, b), "no chat recorded for the old handle")
	})
}

// commitOnceBlocked commits once another session waits on a lock (the
// recording of the send's answer, blocked by the uncommitted handle
// change), or after a bound when none does.
func commitOnceBlocked(ctx context.Context, pool *pgxpool.Pool, commit func(context.Context) error) error {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			return errors.Join(err, commit(ctx))
		}
		if waiting > 0 {
			return commit(ctx)
		}
		<-tick.C
	}
	return commit(ctx)
}
