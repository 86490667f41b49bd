package messaging_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/messaging"
)

// A chat on record that Linq no longer knows (Linq lost it, or the
// simulator of `make run` restarted while the database kept its chats).
func TestLostChat(t *testing.T) {
	t.Parallel()

	type bundle struct {
		*env
		gw   *gateway
		ref  string
		lost string
		ctx  context.Context
	}
	setup := func(t *testing.T) bundle {
		e := newEnv(t)
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		lost := uuid.NewString()
		_, err := e.pool.Exec(context.Background(), `INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
			SELECT id, current_line_id, $2, now() FROM users WHERE user_ref = $1`, ref, lost)
		require.NoError(t, err)
		return bundle{env: e, gw: e.newGateway(t, gwOptions{}), ref: ref, lost: lost, ctx: context.Background()}
	}
	// chatsOf lists the chat ids on record for the user.
	chatsOf := func(t *testing.T, b bundle) []string {
		t.Helper()
		rows, err := b.pool.Query(b.ctx, `SELECT c.linq_chat_id FROM chats c JOIN users u ON u.id = c.user_id
			WHERE u.user_ref = $1`, b.ref)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}
	createdChats := func(t *testing.T, gw *gateway) float64 {
		t.Helper()
		return counterValue(t, gw.metrics.UpstreamRequests.WithLabelValues("create_chat", "ok"))
	}

	t.Run("FirstAttemptOpensANewChatThatTheNextSendUses", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sent, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hello")})
		require.NoError(t, err)
		require.NotEmpty(t, sent.ChatID)
		require.NotEqual(t, b.lost, sent.ChatID)

		log := b.sim.SendLog()
		require.Len(t, log, 1, "one message went out")
		require.Equal(t, sent.ChatID, log[0].ChatID)
		require.Equal(t, sent.ID, log[0].IdempotencyKey, "under the message's own Linq key")
		require.Equal(t, 1.0, createdChats(t, b.gw), "in a chat the send opened")
		require.Equal(t, 1.0, counterValue(t, b.gw.metrics.UpstreamRequests.WithLabelValues("send_message", "refused")))
		require.Equal(t, []string{sent.ChatID}, chatsOf(t, b))

		next, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("again")})
		require.NoError(t, err)
		require.Equal(t, sent.ChatID, next.ChatID)
		log = b.sim.SendLog()
		require.Len(t, log, 2)
		require.Equal(t, sent.ChatID, log[1].ChatID)
		require.Equal(t, 1.0, createdChats(t, b.gw), "the next send used the new chat")
	})

	// The new chat's first message is under Linq's first-message rule, as
	// a user's first message is: refused, and nothing consumed.
	t.Run("FirstMessageRuleAppliesToTheNewChat", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi"),
			Effect: &linq.Effect{Type: "screen", Name: "confetti"}, IdempotencyKey: "k"})
		requireCode(t, err, apperr.Unprocessable, "first_message_rule")
		require.Empty(t, b.sim.SendLog())
		require.Empty(t, chatsOf(t, b), "the lost chat is forgotten")

		sent, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi"), IdempotencyKey: "k"})
		require.NoError(t, err, "the key was not consumed")
		require.Equal(t, []string{sent.ChatID}, chatsOf(t, b))
	})

	// A resend may meet Linq's other 404 (its first attempt's message,
	// deleted since): it is never sent again under a new chat.
	t.Run("TakeoverKeepsThe404AndOpensNoChat", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		req := messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi"), IdempotencyKey: "k"}
		b.sendUnknown(t, b.gw, req)
		_, err := b.gw.svc.Send(b.ctx, req)
		requireCode(t, err, apperr.NotFound, "upstream_not_found")
		require.Empty(t, b.sim.SendLog())
		require.Zero(t, createdChats(t, b.gw))
		require.Equal(t, []string{b.lost}, chatsOf(t, b))
	})
}
