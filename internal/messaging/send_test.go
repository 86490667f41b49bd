package messaging_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/ratelimit"
)

func requireCode(t *testing.T, err error, kind apperr.Kind, code string) {
	t.Helper()
	_ = requireAppErr(t, err, kind, code)
}

// requireAppErr is requireCode for callers that inspect the error further.
func requireAppErr(t *testing.T, err error, kind apperr.Kind, code string) *apperr.Error {
	t.Helper()
	require.Error(t, err)
	ae, ok := apperr.As(err)
	require.True(t, ok, "not an apperr: %v", err)
	require.Equal(t, code, ae.Code, "error: %v", err)
	require.Equal(t, kind, ae.Kind)
	return ae
}

func TestSend(t *testing.T) {
	t.Parallel()

	type bundle struct {
		*env
		gw          *gateway
		line        int64
		number, ref string
		handle      string
		ctx         context.Context
	}
	setup := func(t *testing.T) bundle {
		e := newEnv(t)
		line, number := e.addLine(t)
		ref, handle := e.addUser(t, line)
		return bundle{env: e, gw: e.newGateway(t, gwOptions{}), line: line, number: number, ref: ref, handle: handle,
			ctx: context.Background()}
	}

	t.Run("CreatesTheChatOnTheUsersLineThenReusesIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		first, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hello")})
		require.NoError(t, err)
		require.Equal(t, b.ref, first.UserRef)
		require.Equal(t, messaging.LineRef{ID: b.line, Number: b.number}, first.Line)
		require.NotEmpty(t, first.ChatID)
		require.NotEmpty(t, first.LinqMessageID)
		require.NotEmpty(t, first.IdempotencyKey, "a key is derived when the caller gives none")
		require.Equal(t, "queued", first.Status)

		second, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, Handle: b.handle, Parts: text("again")})
		require.NoError(t, err)
		require.Equal(t, first.ChatID, second.ChatID)
		require.NotEqual(t, first.IdempotencyKey, second.IdempotencyKey)

		log := b.sim.SendLog()
		require.Len(t, log, 2)
		for _, r := range log {
			require.Equal(t, b.number, r.From)
			require.Equal(t, []string{b.handle}, r.To)
			require.NotEmpty(t, r.IdempotencyKey, "every Linq send carries a key")
		}
		var text *string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT body::text FROM messages WHERE id = $1`, first.ID).Scan(&text))
		require.Nil(t, text, "message text is not stored by default")
	})

	// A 502's advice fits the call: a send's retry with its key never sends
	// twice; typing has no key to retry with.
	t.Run("UnconfirmedAnswersAdviseWhatARetryDoes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		require.NoError(t, err)
		b.sim.SetFaults(linqsim.Faults{FailNext: 4})
		_, err = b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("again"), IdempotencyKey: "k"})
		requireCode(t, err, apperr.BadGateway, "upstream_unavailable")
		require.Contains(t, err.Error(), "idempotency_key")
		b.sim.SetFaults(linqsim.Faults{FailNext: 4})
		_, err = b.gw.svc.Typing(b.ctx, b.ref, true)
		requireCode(t, err, apperr.BadGateway, "upstream_unavailable")
		require.NotContains(t, err.Error(), "idempotency_key", "typing takes no key")
	})

	// A send whose outcome stays unknown keeps no text either; its retry
	// brings the parts back for as long as its own outcome is open.
	t.Run("AnUnknownOutcomeKeepsNoText", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		req := messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("secret"), IdempotencyKey: "k"}
		b.sim.SetFaults(linqsim.Faults{FailNext: 4}) // sent, then answered 500 (client retries included)
		_, err := b.gw.svc.Send(b.ctx, req)
		requireCode(t, err, apperr.BadGateway, "upstream_unavailable")
		var state string
		var text *string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state, body::text FROM messages WHERE idempotency_key = 'k'`).Scan(&state, &text))
		require.Equal(t, "failed", state)
		require.Nil(t, text, "message text is not stored by default")

		b.sim.SetFaults(linqsim.Faults{})
		_, err = b.gw.svc.Send(b.ctx, req)
		require.NoError(t, err, "the retry resends under the same Linq key")
	})

	t.Run("SameKeyAndBodyAnswersTheStoredResponseAndSendsOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		req := messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("once"), IdempotencyKey: "k-1"}
		first, err := b.gw.svc.Send(b.ctx, req)
		require.NoError(t, err)
		again, err := b.gw.svc.Send(b.ctx, req)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		again.Replayed = false
		require.Equal(t, first, again)
		require.Len(t, b.sim.SendLog(), 1)

		// Keys are scoped to the API key.
		other, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 2, UserRef: b.ref, Parts: text("once"), IdempotencyKey: "k-1"})
		require.NoError(t, err)
		require.NotEqual(t, first.ID, other.ID)
		require.Len(t, b.sim.SendLog(), 2)
	})

	t.Run("KeyReusedWithAnotherBodyIs422", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("one"), IdempotencyKey: "k"})
		require.NoError(t, err)
		_, err = b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("two"), IdempotencyKey: "k"})
		requireCode(t, err, apperr.Unprocessable, "idempotency_key_reused")
		require.Len(t, b.sim.SendLog(), 1)
	})

	t.Run("ConcurrentDuplicatesOnTwoReplicasSendOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		replicas := []*gateway{b.gw, b.newGateway(t, gwOptions{})}
		const n = 16
		results := make([]*messaging.Sent, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = replicas[i%2].svc.Send(b.ctx, messaging.SendRequest{
					APIKeyID: 1, UserRef: b.ref, Parts: text("dup"), IdempotencyKey: "same-key",
				})
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0].ID, results[i].ID)
			require.Equal(t, results[0].LinqMessageID, results[i].LinqMessageID)
		}
		require.Len(t, b.sim.SendLog(), 1)
	})

	t.Run("OptedOutByStopIs409AndNothingIsSent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.sim.InjectInbound(b.handle, b.number, "STOP")
		require.NoError(t, err)
		_, err = b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		requireCode(t, err, apperr.Conflict, "opted_out")
		var source string
		var at *time.Time
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT opt_out_source, opted_out_at FROM users WHERE user_ref = $1`, b.ref).Scan(&source, &at))
		require.Equal(t, "linq_2024", source)
		require.NotNil(t, at)

		// Now refused locally: Linq is not asked again.
		_, err = b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		requireCode(t, err, apperr.Conflict, "opted_out")
		require.Equal(t, 1.0, counterValue(t, b.gw.metrics.UpstreamRequests.WithLabelValues("create_chat", "refused")))
		require.Empty(t, b.sim.SendLog())
		// The refused sends gave their slots back.
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT coalesce(sum(outbound), 0) FROM line_volume`).Scan(&n))
		require.Zero(t, n)
	})

	t.Run("IneligibleLineIs503AndMarked", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.NoError(t, b.sim.FlagLine(b.number))
		_, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		requireCode(t, err, apperr.Unavailable, "line_unavailable")
		var at *time.Time
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT ineligible_at FROM lines WHERE id = $1`, b.line).Scan(&at))
		require.NotNil(t, at)
		// The line is down now and the user still on it (no line health
		// here to move them): stranded, refused before Linq.
		_, err = b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hi")})
		ae := requireAppErr(t, err, apperr.Unavailable, "no_healthy_line")
		require.Equal(t, ratelimit.LineRetryAfter, ae.RetryAfter)
		require.Equal(t, 1.0, counterValue(t, b.gw.metrics.SendsRefused.WithLabelValues("no_healthy_line")))
		require.Equal(t, 1.0, counterValue(t, b.gw.metrics.UpstreamRequests.WithLabelValues("create_chat", "refused")))
		require.Empty(t, b.sim.SendLog())
	})

	t.Run("FirstMessageRuleIs422WithTheReason", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("see https://example.com")})
		ae := requireAppErr(t, err, apperr.Unprocessable, "first_message_rule")
		require.NotEmpty(t, ae.Details["reason"])
		// The key was not consumed and the slot came back: a plain text works.
		_, err = b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: b.ref, Parts: text("hello")})
		require.NoError(t, err)
	})

	t.Run("UnknownUserIs404", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.gw.svc.Send(b.ctx, messaging.SendRequest{APIKeyID: 1, UserRef: "nobody", Parts: text("hi")})
		requireCode(t, err, apperr.NotFound, "user_not_found")
	})

	t.Run("InvalidRequestsAre422", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, req := range []messaging.SendRequest{
			{Parts: text("x")},
			{UserRef: b.ref, Handle: b.handle, Parts: text("x")},
			{UserRef: b.ref},
			{UserRef: b.ref, Parts: text("x"), Intent: "maybe"},
			{UserRef: b.ref, Parts: []linq.Part{linq.LinkPart("https://a.example"), linq.TextPart("x")}},
			{Handle: "not a number", Parts: text("x")},
			{UserRef: b.ref, Parts: []linq.Part{{Value: "a part without a type"}}},
		} {
			_, err := b.gw.svc.Send(b.ctx, req)
			ae, ok := apperr.As(err)
			require.True(t, ok, "%+v: %v", req, err)
			require.Equal(t, apperr.Unprocessable, ae.Kind, "%+v", req)
		}
	})
}

func TestSendLimits(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T, budget int) (*env, *gateway, int64, string) {
		e := newEnv(t)
		line, _ := e.addLine(t)
		_, err := e.pool.Exec(context.Background(), `UPDATE lines SET budget_override = $2 WHERE id = $1`, line, budget)
		require.NoError(t, err)
		return e, e.newGateway(t, gwOptions{limits: func(c *ratelimit.Config) { c.Policy.ReplyReserve = 0.1 }}), line, ""
	}

	t.Run("ProactiveRefusedWhileAReplyStillGoesThrough", func(t *testing.T) {
		t.Parallel()
		e, gw, line, _ := setup(t, 10) // 9 proactive, 1 reply-only
		ctx := context.Background()
		for range 9 {
			ref, _ := e.addUser(t, line)
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("news")})
			require.NoError(t, err)
		}
		ref, handle := e.addUser(t, line)
		_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("news")})
		ae := requireAppErr(t, err, apperr.RateLimited, "line_budget")
		require.Greater(t, ae.RetryAfter, 23*time.Hour)

		// A "reply" to a user who never wrote is proactive.
		_, err = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("re"), Intent: "reply"})
		requireCode(t, err, apperr.RateLimited, "line_budget")

		// The user writes (which counts too: 10 of 10 now)...
		var uid int64
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT id FROM users WHERE user_ref = $1`, ref).Scan(&uid))
		require.NoError(t, gw.lim.RecordInbound(ctx, line, &uid, time.Now()))
		_, err = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("re"), Intent: "reply"})
		requireCode(t, err, apperr.RateLimited, "line_budget")
		// ...so raise the budget by one: proactive 9 of 9 (full), reply 10 of 11.
		_, err = e.pool.Exec(ctx, `UPDATE lines SET budget_override = 11 WHERE id = $1`, line)
		require.NoError(t, err)
		_, err = gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("news")})
		requireCode(t, err, apperr.RateLimited, "line_budget")
		sent, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, Handle: handle, Parts: text("re"), Intent: "reply"})
		require.NoError(t, err)
		require.NotEmpty(t, sent.LinqMessageID)
		require.Len(t, e.sim.SendLog(), 10)
	})

	t.Run("PairLimitIs429WithRetryAfter", func(t *testing.T) {
		t.Parallel()
		e, gw, line, _ := setup(t, 1000)
		ref, _ := e.addUser(t, line)
		ctx := context.Background()
		for range ratelimit.DefaultConfig().PairLimit {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("spam")})
			require.NoError(t, err)
		}
		_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("spam")})
		ae := requireAppErr(t, err, apperr.RateLimited, "pair_limit")
		require.Positive(t, ae.RetryAfter)
		require.LessOrEqual(t, ae.RetryAfter, 61*time.Second)
		require.Zero(t, e.sim.Count429())
		require.Zero(t, counterValue(t, gw.metrics.Upstream429))
	})
}

func TestUpstreamFaults(t *testing.T) {
	t.Parallel()

	t.Run("LinqRateLimitIsCountedAndAnswered429WithItsRetryAfter", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		line, _ := e.addLine(t)
		ref, _ := e.addUser(t, line)
		// A local pair limit above Linq's (30) lets the 31st send reach Linq.
		gw := e.newGateway(t, gwOptions{limits: func(c *ratelimit.Config) { c.PairLimit = 40 }})
		ctx := context.Background()
		for range 30 {
			_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("x")})
			require.NoError(t, err)
		}
		_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("x")})
		ae := requireAppErr(t, err, apperr.RateLimited, ratelimit.OutcomePairLimit)
		require.Greater(t, ae.RetryAfter, 30*time.Second, "Linq's Retry-After, not a local guess")
		require.LessOrEqual(t, ae.RetryAfter, 60*time.Second)
		require.Equal(t, 1, e.sim.Count429())
		require.Equal(t, 1.0, counterValue(t, gw.metrics.Upstream429))
		require.Len(t, e.sim.SendLog(), 30)
		// Linq sent nothing, so the slot and the budget unit came back.
		var slots, out int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT cardinality(sends) FROM pair_state WHERE line_id = $1`, line).Scan(&slots))
		require.Equal(t, 30, slots)
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT sum(outbound) FROM line_volume WHERE line_id = $1`, line).Scan(&out))
		require.Equal(t, 30, out)
	})

	// Not every Linq 4xx is the caller's bad input: a 401 or a 403 without
	// a code Linq names is Linegate's own API key refused (502, and nothing
	// was sent, so the send's slot and key come back); a 408 left after the
	// client's retries is Linq's timeout, which may come after it acted (502
	// with Retry-After, and the send keeps its slot and key, as any unknown
	// outcome does).
	t.Run("LinqAuthFailureAndTimeoutAre502NotTheCallersFault", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			status     int
			code       string
			retryAfter bool
			kept       bool
		}{
			{http.StatusUnauthorized, "upstream_auth", false, false},
			{http.StatusForbidden, "upstream_auth", false, false},
			{http.StatusRequestTimeout, "upstream_timeout", true, true},
		} {
			t.Run(http.StatusText(tc.status), func(t *testing.T) {
				t.Parallel()
				e := newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(tc.status)
						_, _ = w.Write([]byte(`{"error":{"code":0,"message":"nope","doc_url":""}}`))
					})
				}})
				gw, ref := e.quickGateway(t)
				ctx := context.Background()
				_, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: ref, Parts: text("hi"), IdempotencyKey: "k"})
				ae := requireAppErr(t, err, apperr.BadGateway, tc.code)
				require.Equal(t, tc.retryAfter, ae.RetryAfter > 0, "Retry-After %s", ae.RetryAfter)

				var stamps, used, messages int
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT
					(SELECT coalesce(sum(cardinality(sends)), 0) FROM pair_state),
					(SELECT coalesce(sum(outbound), 0) FROM line_volume),
					(SELECT count(*) FROM messages WHERE state = 'failed')`).Scan(&stamps, &used, &messages))
				if tc.kept {
					require.Equal(t, []int{1, 1, 1}, []int{stamps, used, messages}, "stamp, unit and failed message kept")
				} else {
					require.Equal(t, []int{0, 0, 0}, []int{stamps, used, messages}, "stamp, unit and key given back")
				}
			})
		}
	})

	t.Run("FiveHundredsAtThirtyPercentNeverSendTwice", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		line, _ := e.addLine(t)
		gw := e.newGateway(t, gwOptions{})
		refs := make([]string, 8)
		for i := range refs {
			refs[i], _ = e.addUser(t, line)
		}
		e.sim.SetFaults(linqsim.Faults{ErrorRate: 0.3})
		ctx := context.Background()
		const n = 120
		type result struct {
			sent *messaging.Sent
			err  error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: refs[i%len(refs)], Parts: text("x"),
					IdempotencyKey: "fault-" + time.Duration(i).String()})
				results[i] = result{s, err}
			})
		}
		wg.Wait()
		e.sim.SetFaults(linqsim.Faults{})

		byKey := sendsByKey(e.sim)
		for k, c := range byKey {
			require.Equal(t, 1, c, "key %s sent %d times", k, c)
		}
		ok, failed := 0, 0
		for i, r := range results {
			if r.err == nil {
				ok++
				require.Equal(t, 1, byKey[r.sent.ID], "send %d succeeded once", i)
				continue
			}
			failed++
			requireCode(t, r.err, apperr.BadGateway, "upstream_unavailable")
		}
		require.Positive(t, ok)
		t.Logf("%d sent, %d answered 502", ok, failed)

		// A caller retry of each 502 with its key sends at most once in all.
		for i, r := range results {
			if r.err == nil {
				continue
			}
			s, err := gw.svc.Send(ctx, messaging.SendRequest{APIKeyID: 1, UserRef: refs[i%len(refs)], Parts: text("x"),
				IdempotencyKey: "fault-" + time.Duration(i).String()})
			require.NoError(t, err)
			require.LessOrEqual(t, sendsByKey(e.sim)[s.ID], 1)
		}
		for _, c := range sendsByKey(e.sim) {
			require.Equal(t, 1, c)
		}
		// The simulator dedupes a repeated Linq key itself, so the check
		// above cannot see a double send made under a second Linq key; the
		// total can: n caller keys, every one answered 201 in the end, so
		// exactly n messages went out.
		require.Len(t, e.sim.SendLog(), n)
	})
}
