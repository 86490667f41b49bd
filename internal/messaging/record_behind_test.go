package messaging_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/messaging"
)

// recordHold holds the pending messages' rows locked from the moment the
// next send on an open chat reaches Linq, so that its record waits.
type recordHold struct {
	pool  atomic.Pointer[pgxpool.Pool]
	armed atomic.Bool
	mu    sync.Mutex
	tx    pgx.Tx
}

func (h *recordHold) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages") && h.armed.CompareAndSwap(true, false) {
			tx, err := h.pool.Load().Begin(context.Background())
			if err == nil {
				_, err = tx.Exec(context.Background(), `SELECT 1 FROM messages WHERE state = 'pending' FOR UPDATE`)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			h.mu.Lock()
			h.tx = tx
			h.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// commit applies sql in the hold's transaction, then ends the hold.
func (h *recordHold) commit(t *testing.T, sql string, args ...any) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotNil(t, h.tx, "the hold was taken")
	_, err := h.tx.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
	require.NoError(t, h.tx.Commit(context.Background()))
}

func (h *recordHold) release(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotNil(t, h.tx, "the hold was taken")
	require.NoError(t, h.tx.Rollback(context.Background()))
}

// recordBehindEnv is a gateway whose next send on an open chat has its
// record held, and a user with a chat already open.
func recordBehindEnv(t *testing.T) (*env, *gateway, *recordHold, string) {
	t.Helper()
	h := &recordHold{}
	e := newEnvWith(t, envOptions{front: h.front})
	h.pool.Store(e.pool)
	gw := e.newGateway(t, gwOptions{})
	line, _ := e.addLine(t)
	ref, _ := e.addUser(t, line)
	_, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("opens the chat")})
	require.NoError(t, err)
	h.armed.Store(true)
	return e, gw, h, ref
}

func messageState(t *testing.T, e *env, id string) string {
	t.Helper()
	var state string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT state FROM messages WHERE id = $1`, id).Scan(&state))
	return state
}

// The caller has Linq's answer while it is being recorded; what reads the
// record waits for it.
func TestRecordBehind(t *testing.T) {
	t.Parallel()

	t.Run("TheCallerHasLinqsAnswerBeforeItIsRecorded", func(t *testing.T) {
		t.Parallel()
		e, gw, h, ref := recordBehindEnv(t)
		sent, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
		require.NoError(t, err)
		require.NotEmpty(t, sent.LinqMessageID)
		require.Equal(t, "pending", messageState(t, e, sent.ID), "the record is held, the answer is not")
		h.release(t)
		gw.svc.Settle()
		require.Equal(t, "sent", messageState(t, e, sent.ID))
	})

	t.Run("AnActionRightAfterTheSendWaitsForItsRecord", func(t *testing.T) {
		t.Parallel()
		e, gw, h, ref := recordBehindEnv(t)
		sent, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			_, err := gw.svc.React(context.Background(), sent.ID, messaging.ReactRequest{Operation: linq.ReactionAdd, Type: "love"})
			done <- err
		}()
		// Release once the record and the reaction both wait on the held
		// rows (or the reaction has already answered, which fails below).
		waiting := func() int {
			var n int
			require.NoError(t, e.pool.QueryRow(context.Background(),
				`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
			return n
		}
		var err2 error
		answered := false
		for !answered && waiting() < 2 {
			select {
			case err2 = <-done:
				answered = true
			case <-time.After(10 * time.Millisecond):
			}
		}
		h.release(t)
		if !answered {
			err2 = <-done
		}
		require.NoError(t, err2, "the reaction finds the message once its record is in")
	})

	// The sending replica may die before it records Linq's answer; the
	// record then comes only when the recovery job resends at the lease's
	// end. An action that cannot wait that long is told to retry, not that
	// the database failed.
	t.Run("AnActionWhoseRecordDoesNotComeInTimeIsToldToRetry", func(t *testing.T) {
		t.Parallel()
		e, gw, h, ref := recordBehindEnv(t)
		sent, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
		require.NoError(t, err)
		h.release(t)
		gw.svc.Settle()
		// As a replica that answered and died before recording leaves it.
		_, err = e.pool.Exec(context.Background(),
			`UPDATE messages SET state = 'pending', lease_until = now() + interval '1 hour' WHERE id = $1`, sent.ID)
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = gw.svc.React(ctx, sent.ID, messaging.ReactRequest{Operation: linq.ReactionAdd, Type: "love"})
		ae := requireAppErr(t, err, apperr.Conflict, "message_in_progress")
		require.Equal(t, time.Second, ae.RetryAfter)
	})

	// A delivery event processed before the record is later news than
	// Linq's answer to the send, and the record keeps it.
	t.Run("AStatusFromAnEventBeforeTheRecordStays", func(t *testing.T) {
		t.Parallel()
		e, gw, h, ref := recordBehindEnv(t)
		sent, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
		require.NoError(t, err)
		h.commit(t, `UPDATE messages SET delivered_at = now(), delivery_status = 'delivered' WHERE id = $1`, sent.ID)
		gw.svc.Settle()
		var state, status string
		require.NoError(t, e.pool.QueryRow(context.Background(),
			`SELECT state, delivery_status FROM messages WHERE id = $1`, sent.ID).Scan(&state, &status))
		require.Equal(t, "sent", state)
		require.Equal(t, "delivered", status)
	})

	t.Run("CloseWaitsForTheRecordsInFlight", func(t *testing.T) {
		t.Parallel()
		e, gw, h, ref := recordBehindEnv(t)
		sent, err := gw.svc.Send(context.Background(), messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi")})
		require.NoError(t, err)
		closed := make(chan struct{})
		go func() {
			gw.svc.Close()
			close(closed)
		}()
		h.release(t)
		<-closed
		require.Equal(t, "sent", messageState(t, e, sent.ID))
	})
}
