package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
)

// continuationText is the default template with the test config's company.
const continuationText = "This is Linegate's new number — same conversation, just a new line."

// withHandles gives the users seeded under prefix a phone handle each, so
// that messages can be sent to them.
func (e *healthEnv) withHandles(t *testing.T, prefix string) {
	t.Helper()
	_, err := e.gws[0].app.Pool().Exec(context.Background(),
		`UPDATE users SET handle = '+1415' || lpad(id::text, 7, '0') WHERE user_ref LIKE $1 || '-%'`, prefix)
	require.NoError(t, err)
}

// handleOf reads a user's handle.
func (e *healthEnv) handleOf(t *testing.T, ref string) string {
	t.Helper()
	var h string
	require.NoError(t, e.gws[0].app.Pool().QueryRow(context.Background(), `SELECT handle FROM users WHERE user_ref = $1`, ref).Scan(&h))
	return h
}

// post sends POST /v1/messages with an Idempotency-Key and answers the
// status, the Retry-After header and the body.
func (g *gw) post(t *testing.T, key string, body map[string]any) (int, string, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", g.srv.URL+"/v1/messages", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+g.key)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := g.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out
}

func textBody(ref, text string) map[string]any {
	return map[string]any{"user_ref": ref, "parts": []map[string]string{{"type": "text", "value": text}}}
}

// simText reads the text of a message as the simulator holds it.
func (e *healthEnv) simText(t *testing.T, messageID string) string {
	t.Helper()
	c, err := linq.New(linq.Config{BaseURL: e.simSrv.URL, APIKey: "simulator", MaxRetries: -1})
	require.NoError(t, err)
	m, err := c.GetMessage(context.Background(), messageID)
	require.NoError(t, err)
	require.NotEmpty(t, m.Parts)
	return m.Parts[0].Value
}

// sendsTo is the simulator's send log for one handle, oldest first.
func (e *healthEnv) sendsTo(handle string) []linqsim.SendRecord {
	var out []linqsim.SendRecord
	for _, r := range e.sim.SendLog() {
		if len(r.To) == 1 && r.To[0] == handle {
			out = append(out, r)
		}
	}
	return out
}

// newMovedEnv is one gateway with users a-1 … a-5, whose home line was
// flagged and who were moved to their backup line.
func newMovedEnv(t *testing.T) *healthEnv {
	t.Helper()
	e := newHealthEnv(t, 1)
	e.seedUsers(t, "a", 5, e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1]))
	e.withHandles(t, "a")
	require.NoError(t, e.sim.FlagLine(e.lines[0]))
	waitFor(t, func() bool { return len(e.prod.events("user.line_changed")) >= 5 }, "5 user.line_changed")
	return e
}

func TestFailoverSendPath(t *testing.T) {
	t.Parallel()

	t.Run("OpsReassignTellsProductServicesAndTheNextSendOpensTheNewChat", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1)
		home, other := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[3])
		e.seedUsers(t, "a", 2, home, e.lineID(t, e.lines[1]))
		e.withHandles(t, "a")
		st, out := e.gws[0].send(t, "a-1", "before the move")
		require.Equal(t, http.StatusCreated, st, "%v", out)

		st, out = e.gws[0].call(t, "POST", "/v1/ops/users/a-1/reassign", map[string]any{"line_id": other})
		require.Equal(t, http.StatusOK, st, "%v", out)
		require.Equal(t, e.lines[3], out["current_line"].(map[string]any)["number"])
		waitFor(t, func() bool { return len(e.prod.events("user.line_changed")) >= 1 }, "user.line_changed")
		evs := e.prod.events("user.line_changed")
		require.Len(t, evs, 1)
		require.Equal(t, map[string]any{"user_ref": "a-1", "from_line_id": float64(home), "to_line_id": float64(other), "reason": "ops"}, evs[0].Data)

		h := e.handleOf(t, "a-1")
		before := len(e.sendsTo(h))
		st, _, out = e.gws[0].post(t, "k-1", textBody("a-1", "after the move"))
		require.Equal(t, http.StatusCreated, st, "%v", out)
		sends := e.sendsTo(h)[before:]
		require.Len(t, sends, 2)
		require.Equal(t, continuationText, e.simText(t, sends[0].MessageID))
		require.Equal(t, "after the move", e.simText(t, sends[1].MessageID))
		for _, r := range sends {
			require.Equal(t, e.lines[3], r.From)
		}
		// Recovery leaves an ops move where it is.
		_, err := e.gws[0].app.LineHealth().Recover(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM users WHERE user_ref = 'a-1' AND current_line_id = $1`, other))
	})

	t.Run("FlaggedLineMovesUsersAndTheNextSendOpensTheNewChatWithTheContinuation", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 2)
		home, backup := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1])
		e.seedUsers(t, "a", 40, home, backup)
		e.withHandles(t, "a")

		// a-1 has a chat on the home line already.
		st, out := e.gws[0].send(t, "a-1", "before the flag")
		require.Equal(t, http.StatusCreated, st, "%v", out)
		require.Equal(t, e.lines[0], out["line"].(map[string]any)["number"])

		require.NoError(t, e.sim.FlagLine(e.lines[0]))
		waitFor(t, func() bool { return len(e.prod.events("user.line_changed")) >= 40 }, "40 user.line_changed")
		require.Zero(t, e.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, home))
		require.Equal(t, 40, e.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, backup))

		// The next send goes out on the backup: the continuation first,
		// then the message, in the chat the continuation opened.
		h1 := e.handleOf(t, "a-1")
		before := len(e.sendsTo(h1))
		st, _, out = e.gws[1].post(t, "k-1", textBody("a-1", "your order shipped"))
		require.Equal(t, http.StatusCreated, st, "%v", out)
		require.Equal(t, e.lines[1], out["line"].(map[string]any)["number"])
		sends := e.sendsTo(h1)[before:]
		require.Len(t, sends, 2)
		for _, r := range sends {
			require.Equal(t, e.lines[1], r.From)
			require.Equal(t, out["chat_id"], r.ChatID)
		}
		require.Equal(t, continuationText, e.simText(t, sends[0].MessageID))
		require.NotEqual(t, out["id"], sends[0].IdempotencyKey, "the continuation has a key of its own")
		require.Equal(t, out["linq_message_id"], sends[1].MessageID)
		require.Equal(t, "your order shipped", e.simText(t, sends[1].MessageID))

		// A retry of the POST (same API key and Idempotency-Key) sends
		// nothing more, on either instance.
		for _, g := range e.gws {
			caller := &gw{app: g.app, srv: g.srv, key: e.gws[1].key}
			st, _, again := caller.post(t, "k-1", textBody("a-1", "your order shipped"))
			require.Contains(t, []int{http.StatusOK, http.StatusCreated}, st, "%v", again)
			require.Equal(t, out["id"], again["id"])
		}
		require.Len(t, e.sendsTo(h1), before+2)

		// A later message goes on the same chat, with no continuation.
		st, _, out2 := e.gws[0].post(t, "k-2", textBody("a-1", "and delivered"))
		require.Equal(t, http.StatusCreated, st, "%v", out2)
		require.Equal(t, out["chat_id"], out2["chat_id"])
		require.Len(t, e.sendsTo(h1), before+3)
		// The continuation counts in the pair window and the line's budget
		// as the messages do.
		require.Equal(t, 3, e.count(t, `SELECT cardinality(sends) FROM pair_state WHERE line_id = $1 AND handle = $2`, backup, h1))
		require.Equal(t, 3, e.count(t, `SELECT coalesce(sum(outbound), 0)::int FROM line_volume WHERE line_id = $1`, backup))

		// A link as the first message after the move is delivered: the
		// continuation opened the chat, so Linq's first-message rule does
		// not apply to it.
		h2 := e.handleOf(t, "a-2")
		st, _, out = e.gws[0].post(t, "k-3", map[string]any{
			"user_ref": "a-2", "parts": []map[string]string{{"type": "link", "value": "https://example.com/track/2"}},
		})
		require.Equal(t, http.StatusCreated, st, "%v", out)
		sends = e.sendsTo(h2)
		require.Len(t, sends, 2)
		require.Equal(t, continuationText, e.simText(t, sends[0].MessageID))
		require.Equal(t, "https://example.com/track/2", e.simText(t, sends[1].MessageID))
		require.Equal(t, e.lines[1], sends[1].From)

		// The backup line's contact card is shared once into each new chat
		// (with a message on record: Linq's answers recorded first).
		for _, g := range e.gws {
			g.app.Messages().Settle()
		}
		svc := e.gws[0].app.LineHealth()
		require.NotNil(t, svc)
		_, err := svc.EnsureContactCards(context.Background())
		require.NoError(t, err)
		n, err := svc.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Equal(t, 2, e.count(t, `SELECT count(*) FROM contact_card_shares s JOIN users u ON u.id = s.user_id
			WHERE s.line_id = $1 AND u.user_ref IN ('a-1', 'a-2')`, backup))
		n, err = svc.ShareContactCards(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "shared once per chat")
	})

	t.Run("RetryAfterAnUnknownOutcomeNeverSendsTheContinuationTwice", func(t *testing.T) {
		t.Parallel()
		e := newMovedEnv(t)

		// The continuation reaches Linq, its answer is lost (500 after
		// processing, the retries too), so the send's outcome is unknown.
		e.sim.SetFaults(linqsim.Faults{FailNext: 10})
		st, _, out := e.gws[0].post(t, "k-1", textBody("a-1", "hello"))
		require.Equal(t, http.StatusBadGateway, st, "%v", out)
		e.sim.SetFaults(linqsim.Faults{})

		st, _, out = e.gws[0].post(t, "k-1", textBody("a-1", "hello"))
		require.Equal(t, http.StatusCreated, st, "%v", out)
		sends := e.sendsTo(e.handleOf(t, "a-1"))
		require.Len(t, sends, 2, "one continuation, one message")
		require.Equal(t, continuationText, e.simText(t, sends[0].MessageID))
		require.Equal(t, out["linq_message_id"], sends[1].MessageID)
	})

	t.Run("RecoveryResendWhoseContinuationGoesUnansweredStaysPending", func(t *testing.T) {
		t.Parallel()
		e := newMovedEnv(t)
		e.sim.SetFaults(linqsim.Faults{FailNext: 10})
		st, _, out := e.gws[0].post(t, "k-1", textBody("a-1", "hello"))
		require.Equal(t, http.StatusBadGateway, st, "%v", out)
		// As if the replica had died with the send in flight.
		expire := func() {
			t.Helper()
			_, err := e.gws[0].app.Pool().Exec(context.Background(), `UPDATE messages SET state = 'pending',
				lease_until = now() - interval '1 second', body = coalesce(body, '[{"type":"text","value":"hello"}]')`)
			require.NoError(t, err)
		}
		expire()

		// The continuation goes unanswered again: the send stays pending.
		_, err := e.gws[0].app.Messages().Recover(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM messages WHERE state = 'pending'`))
		e.sim.SetFaults(linqsim.Faults{})
		expire()
		n, err := e.gws[0].app.Messages().Recover(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM messages WHERE state = 'sent'`))
		sends := e.sendsTo(e.handleOf(t, "a-1"))
		require.Len(t, sends, 2, "one continuation, one message")
		require.Equal(t, continuationText, e.simText(t, sends[0].MessageID))
	})

	t.Run("IneligibleAnswerOnASendTakesTheLineDownAndMovesItsUsers", func(t *testing.T) {
		t.Parallel()
		// No status_updated reaches the gateway and the poll does not run
		// in time: the send's 2027 is what Linegate learns the flag from.
		e := newHealthEnv(t, 1, func(c *config.Config) { c.HealthPollSpec = "@every 1h" })
		// The poll a start runs beside serving has seen the lines unflagged.
		waitFor(t, func() bool { return e.count(t, `SELECT count(*) FROM lines WHERE health_confirmed_at IS NULL`) == 0 },
			"the start's health poll")
		home, backup := e.lineID(t, e.lines[0]), e.lineID(t, e.lines[1])
		e.seedUsers(t, "a", 20, home, backup)
		e.withHandles(t, "a")
		e.sim.SetFaults(linqsim.Faults{DropWebhooks: 1})
		require.NoError(t, e.sim.FlagLine(e.lines[0]))

		st, retry, out := e.gws[0].post(t, "k-1", textBody("a-1", "hello"))
		require.Equal(t, http.StatusServiceUnavailable, st, "%v", out)
		require.Equal(t, "line_unavailable", out["error"].(map[string]any)["code"])
		require.NotEmpty(t, retry)

		l := e.lineState(t, e.lines[0])
		require.Equal(t, "down", l["state"])
		require.Equal(t, "send: ineligible (2027)", l["cause"])
		require.Zero(t, e.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, home))
		require.Equal(t, 20, e.count(t, `SELECT count(*) FROM line_ledger WHERE reason = 'failover' AND from_line_id = $1`, home))
		require.Equal(t, 1, e.count(t, `SELECT count(*) FROM line_health_history WHERE line_id = $1 AND source = 'send'`, home))
		waitFor(t, func() bool {
			return len(e.prod.events("line.status_changed")) >= 1 && len(e.prod.events("user.line_changed")) >= 20
		}, "the line and user events")
		evs := e.prod.events("line.status_changed")
		require.Len(t, evs, 1)
		require.Equal(t, "down", evs[0].Data["to"])

		// The caller's retry goes out on the backup.
		st, _, out = e.gws[0].post(t, "k-1", textBody("a-1", "hello"))
		require.Equal(t, http.StatusCreated, st, "%v", out)
		require.Equal(t, e.lines[1], out["line"].(map[string]any)["number"])
		require.Len(t, e.prod.events("line.status_changed"), 1)
	})

	t.Run("UserStrandedOnAFailingLineGetsNoHealthyLine", func(t *testing.T) {
		t.Parallel()
		e := newHealthEnv(t, 1)
		home := e.lineID(t, e.lines[0])
		// The other lines have room for 4 users each (budget 100).
		_, err := e.gws[0].app.Pool().Exec(context.Background(), `UPDATE lines SET budget_override = 100 WHERE id <> $1`, home)
		require.NoError(t, err)
		e.seedUsers(t, "a", 20, home, e.lineID(t, e.lines[1]))
		e.withHandles(t, "a")

		require.NoError(t, e.sim.FlagLine(e.lines[0]))
		waitFor(t, func() bool { return e.lineState(t, e.lines[0])["state"] == "down" }, "the line goes down")
		left := e.count(t, `SELECT count(*) FROM users WHERE current_line_id = $1`, home)
		require.Positive(t, left, "the pool is too small for everyone")
		require.Less(t, left, 20)
		var ref string
		require.NoError(t, e.gws[0].app.Pool().QueryRow(context.Background(),
			`SELECT user_ref FROM users WHERE current_line_id = $1 ORDER BY id LIMIT 1`, home).Scan(&ref))

		refused := e.gws[0].app.Metrics().SendsRefused.WithLabelValues("no_healthy_line")
		before := testutil.ToFloat64(refused)
		logged := len(e.sim.SendLog())
		st, retry, out := e.gws[0].post(t, "", textBody(ref, "hello"))
		require.Equal(t, http.StatusServiceUnavailable, st, "%v", out)
		require.Equal(t, "no_healthy_line", out["error"].(map[string]any)["code"])
		require.Equal(t, "60", retry)
		require.Equal(t, before+1, testutil.ToFloat64(refused))
		require.Len(t, e.sim.SendLog(), logged, "nothing reached Linq")

		// A user the failover placed sends normally.
		var moved string
		require.NoError(t, e.gws[0].app.Pool().QueryRow(context.Background(),
			`SELECT user_ref FROM users WHERE current_line_id <> $1 AND user_ref LIKE 'a-%' ORDER BY id LIMIT 1`, home).Scan(&moved))
		st, _, out = e.gws[0].post(t, "", textBody(moved, "hello"))
		require.Equal(t, http.StatusCreated, st, "%v", out)
	})
}
