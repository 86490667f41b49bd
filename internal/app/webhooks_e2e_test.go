package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInboundEndToEnd(t *testing.T) {
	t.Parallel()
	type bundle struct {
		env  *hookEnv
		gw   *gw
		prod *product
	}
	setup := func(t *testing.T) bundle {
		t.Helper()
		e := newHookEnv(t)
		g := e.gateway(t, true)
		p := newProduct(t)
		p.subscribe(t, g)
		return bundle{env: e, gw: g, prod: p}
	}

	t.Run("SignupFirstMessageConnectsTheUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const handle = "+14155550101"
		body, line := b.gw.signup(t, "alice")

		st, out := b.gw.send(t, "alice", "hello before connecting")
		require.Equal(t, http.StatusConflict, st, "%v", out)

		_, err := b.env.sim.InjectInbound(handle, line, body)
		require.NoError(t, err)
		// Each event is its own delivery job, so they may arrive in any order.
		waitFor(t, func() bool {
			return len(b.prod.events("message.received")) == 1 && len(b.prod.events("user.connected")) == 1
		}, "message.received and user.connected")
		connected := b.prod.events("user.connected")
		require.Len(t, connected, 1)
		require.Equal(t, "alice", connected[0].Data["user_ref"])
		require.Equal(t, handle, connected[0].Data["handle"])
		got := b.prod.events("message.received")[0]
		require.Equal(t, "alice", got.Data["user_ref"])
		require.Equal(t, body, got.Data["text"])
		require.Equal(t, got.ID, got.WebhookID)
		require.Zero(t, b.prod.bad)

		st, out = b.gw.send(t, "alice", "welcome")
		require.Equal(t, http.StatusCreated, st, "%v", out)
		require.Len(t, b.env.sim.SendLog(), 1)
		require.Equal(t, []string{handle}, b.env.sim.SendLog()[0].To)

		// Linq's sent, delivered and read events reach the message record
		// and product.
		id := out["id"].(string)
		waitFor(t, func() bool {
			return b.env.count(t, b.gw, "SELECT count(*) FROM messages WHERE id = $1 AND delivery_status = 'read' AND read_at IS NOT NULL AND sent_at IS NOT NULL", id) == 1
		}, "message read")
		waitFor(t, func() bool {
			for _, e := range b.prod.events("message.status") {
				if e.Data["message_id"] == id && e.Data["status"] == "read" {
					return true
				}
			}
			return false
		}, "message.status read")
	})

	t.Run("StopOptsOutAndAnOrdinaryMessageOptsBackIn", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const handle = "+14155550102"
		body, line := b.gw.signup(t, "bob")
		_, err := b.env.sim.InjectInbound(handle, line, body)
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("user.connected")) == 1 }, "user.connected")

		_, err = b.env.sim.InjectInbound(handle, line, "STOP")
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("user.opted_out")) == 1 }, "user.opted_out")
		require.Equal(t, "keyword", b.prod.events("user.opted_out")[0].Data["source"])
		st, out := b.gw.send(t, "bob", "are you there?")
		require.Equal(t, http.StatusConflict, st, "%v", out)
		require.Empty(t, b.env.sim.SendLog())

		_, err = b.env.sim.InjectInbound(handle, line, "sorry, I'm back")
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("user.opted_in")) == 1 }, "user.opted_in")
		st, out = b.gw.send(t, "bob", "welcome back")
		require.Equal(t, http.StatusCreated, st, "%v", out)
		require.Len(t, b.env.sim.SendLog(), 1)
	})

	t.Run("UnknownSenderIsForwardedWithoutUser", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.env.sim.InjectInbound("+14155550199", b.env.lines[0], "who is this?")
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("message.received")) == 1 }, "message.received")
		got := b.prod.events("message.received")[0]
		require.Nil(t, got.Data["user_ref"])
		require.Empty(t, b.prod.events("user.connected"))
	})
}
