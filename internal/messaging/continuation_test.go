package messaging_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/ratelimit"
)

// continuer is line health as the send path sees it: a user whose newest
// ledger row is a failover onto their line is owed the continuation there.
type continuer struct{}

func (continuer) Apply(context.Context, pgx.Tx, health.Input) error { return nil }
func (continuer) ContinuationAfter() []string                       { return []string{"failover"} }
func (continuer) ContinuationText() string                          { return "we moved numbers" }

// The continuation text is a Linq message of its own: a failed-over user's
// first send on their new line is admitted with it, two stamps in the pair
// window and two messages of the line's budget, all or none.
func TestContinuation(t *testing.T) {
	t.Parallel()

	type bundle struct {
		*env
		gw           *gateway
		line         int64
		ref, handle  string
		ctx          context.Context
		stamps, used func() int
	}
	setup := func(t *testing.T, e *env) bundle {
		t.Helper()
		gw := e.newGateway(t, gwOptions{})
		gw.svc.SetHealth(continuer{})
		line, _ := e.addLine(t)
		ref, handle := e.addUser(t, line)
		ctx := context.Background()
		_, err := e.pool.Exec(ctx, `INSERT INTO line_ledger (user_id, reason, to_line_id, line_set)
			SELECT id, 'failover', current_line_id, ARRAY[current_line_id] FROM users WHERE user_ref = $1`, ref)
		require.NoError(t, err)
		b := bundle{env: e, gw: gw, line: line, ref: ref, handle: handle, ctx: ctx}
		b.stamps = func() int {
			t.Helper()
			var n int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT coalesce(sum(cardinality(sends)), 0) FROM pair_state
				WHERE line_id = $1`, line).Scan(&n))
			return n
		}
		b.used = func() int {
			t.Helper()
			var n int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT coalesce(sum(inbound + outbound), 0) FROM line_volume
				WHERE line_id = $1`, line).Scan(&n))
			return n
		}
		return b
	}
	send := func(b bundle, key string) (*messaging.Sent, error) {
		return b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hello"), IdempotencyKey: key})
	}

	t.Run("OpensTheChatAndCountsAsASendOfItsOwn", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newEnv(t))
		first, err := send(b, "k1")
		require.NoError(t, err)
		log := b.sim.SendLog()
		require.Len(t, log, 2, "the continuation, then the message")
		require.Equal(t, first.LinqMessageID, log[1].MessageID)
		require.Equal(t, 2, b.stamps())
		require.Equal(t, 2, b.used())

		_, err = send(b, "k2")
		require.NoError(t, err)
		b.gw.svc.Settle()
		require.Len(t, b.sim.SendLog(), 3, "the chat is open: no second continuation")
		require.Equal(t, 3, b.stamps())
		require.Equal(t, 3, b.used())
	})

	// Sent alone, the message would open the chat itself with no word of
	// the new number, and the next send would owe the continuation all the
	// same: the send is refused with the limit's answer until both fit.
	t.Run("RefusedWhenTheLineBudgetHasRoomForTheSendAlone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newEnv(t))
		_, err := b.pool.Exec(b.ctx, `UPDATE lines SET budget_override = 1 WHERE id = $1`, b.line)
		require.NoError(t, err)
		_, err = send(b, "k")
		requireCode(t, err, apperr.RateLimited, ratelimit.OutcomeLineBudget)
		require.Empty(t, b.sim.SendLog())
		require.Zero(t, b.used())

		_, err = b.pool.Exec(b.ctx, `UPDATE lines SET budget_override = 2 WHERE id = $1`, b.line)
		require.NoError(t, err)
		_, err = send(b, "k")
		require.NoError(t, err)
		require.Len(t, b.sim.SendLog(), 2)
		require.Equal(t, 2, b.used())
	})

	t.Run("RefusedWhenThePairWindowHasRoomForTheSendAlone", func(t *testing.T) {
		t.Parallel()
		e, ft := clockEnv(t)
		b := setup(t, e)
		// 29 of 30 in the window: one 50 s old, 28 10 s old.
		now := ft.db.Now()
		_, err := b.pool.Exec(b.ctx, `INSERT INTO pair_state (line_id, handle, sends)
			SELECT $1, $2, ARRAY[$3::timestamptz - interval '50 seconds']
			    || ARRAY(SELECT $3::timestamptz - interval '10 seconds' + g * interval '1 microsecond'
			               FROM generate_series(1, 28) AS g)`, b.line, b.handle, now)
		require.NoError(t, err)
		_, err = send(b, "k")
		ae := requireAppErr(t, err, apperr.RateLimited, ratelimit.OutcomePairLimit)
		require.Equal(t, 11*time.Second, ae.RetryAfter, "the first whole second after the oldest send left")
		require.Empty(t, b.sim.SendLog())

		ft.db.Advance(11 * time.Second)
		_, err = send(b, "k")
		require.NoError(t, err)
		require.Len(t, b.sim.SendLog(), 2)
	})

	// Linq refused the continuation: neither went out, so both slots come
	// back, and the key is free again.
	t.Run("RefusedByLinqGivesBothSlotsBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chats") {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusForbidden)
					_, _ = w.Write([]byte(`{"error":{"code":2026,"message":"blocked","doc_url":""}}`))
					return
				}
				next.ServeHTTP(w, r)
			})
		}}))
		_, err := send(b, "k")
		requireCode(t, err, apperr.Conflict, "recipient_blocked")
		require.Zero(t, b.stamps())
		require.Zero(t, b.used())
		var messages int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM messages`).Scan(&messages))
		require.Zero(t, messages)
	})

	// The continuation's outcome is unknown: a retry resends both in the
	// slots they took, under their Linq keys, and takes no third.
	t.Run("RetryOfUnknownOutcomeResendsBothInTheirSlots", func(t *testing.T) {
		t.Parallel()
		b := setup(t, newEnv(t))
		b.sim.SetFaults(linqsim.Faults{FailNext: 3})
		_, err := send(b, "k")
		requireCode(t, err, apperr.BadGateway, "upstream_unavailable")
		b.sim.SetFaults(linqsim.Faults{})
		require.Equal(t, 2, b.stamps())

		sent, err := send(b, "k")
		require.NoError(t, err)
		log := b.sim.SendLog()
		require.Len(t, log, 2, "one continuation, one message")
		require.Equal(t, sent.LinqMessageID, log[1].MessageID)
		require.Equal(t, 2, b.stamps())
		require.Equal(t, 2, b.used())
	})
}
