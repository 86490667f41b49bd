package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/config"
)

func TestEventDelivery(t *testing.T) {
	t.Parallel()
	type bundle struct {
		env  *hookEnv
		gw   *gw
		prod *product
		sub  int64
	}
	setup := func(t *testing.T) bundle {
		t.Helper()
		e := newHookEnv(t)
		g := e.gateway(t, true)
		p := newProduct(t)
		return bundle{env: e, gw: g, prod: p, sub: p.subscribe(t, g)}
	}
	deliveries := func(t *testing.T, g *gw, query string) []map[string]any {
		t.Helper()
		st, out := g.call(t, "GET", "/v1/ops/event-deliveries"+query, nil)
		require.Equal(t, http.StatusOK, st, "%v", out)
		var ds []map[string]any
		for _, d := range out["deliveries"].([]any) {
			ds = append(ds, d.(map[string]any))
		}
		return ds
	}

	t.Run("EndpointDownForTwoAttemptsGetsTheSameEventLater", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.prod.setFail(func(hit int) bool { return hit <= 2 })
		_, err := b.env.sim.InjectInbound("+14155550121", b.env.lines[0], "patience")
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("message.received")) == 1 }, "delivered after failures")
		got := b.prod.events("message.received")[0]
		b.prod.mu.Lock()
		ids := append([]string(nil), b.prod.ids...)
		b.prod.mu.Unlock()
		require.Equal(t, []string{got.ID, got.ID, got.ID}, ids)
		// The job records the delivery after product answered.
		waitFor(t, func() bool { return len(deliveries(t, b.gw, "?state=delivered")) == 1 }, "recorded as delivered")
		ds := deliveries(t, b.gw, "?state=delivered")
		require.Equal(t, float64(3), ds[0]["attempts"])
		require.Equal(t, got.ID, ds[0]["event_id"])
		// The delivered body held message text: it is not kept.
		require.Zero(t, b.env.count(t, b.gw, "SELECT count(*) FROM event_deliveries WHERE payload IS NOT NULL"))
	})

	t.Run("AlwaysFailingGoesDeadAndIsReplayedAfterRecovery", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.prod.setFail(func(int) bool { return true })
		for i := range 2 {
			_, err := b.env.sim.InjectInbound(fmt.Sprintf("+1415555013%d", i), b.env.lines[0], "anyone?")
			require.NoError(t, err)
		}
		waitFor(t, func() bool { return len(deliveries(t, b.gw, "?state=dead")) == 2 }, "both dead")
		dead := deliveries(t, b.gw, "?state=dead")
		require.Equal(t, float64(4), dead[0]["attempts"])
		require.Equal(t, float64(503), dead[0]["last_status"])
		waitFor(t, func() bool { return gaugeValue(b.gw.app.Metrics().EventDeliveriesDead) == 2 }, "dead gauge")
		require.Empty(t, b.prod.events(""))

		b.prod.setFail(nil)
		st, out := b.gw.call(t, "POST", fmt.Sprintf("/v1/ops/event-deliveries/%d/retry", int64(dead[0]["id"].(float64))), nil)
		require.Equal(t, http.StatusAccepted, st, "%v", out)
		waitFor(t, func() bool { return len(b.prod.events("message.received")) == 1 }, "retried one")
		require.Equal(t, dead[0]["event_id"], b.prod.events("message.received")[0].ID)

		st, out = b.gw.call(t, "POST", fmt.Sprintf("/v1/ops/event-subscriptions/%d/replay", b.sub), nil)
		require.Equal(t, http.StatusAccepted, st, "%v", out)
		require.Equal(t, float64(1), out["replayed"])
		waitFor(t, func() bool { return len(b.prod.events("message.received")) == 2 }, "replayed the rest")
		require.Equal(t, dead[1]["event_id"], b.prod.events("message.received")[1].ID)
		require.Empty(t, deliveries(t, b.gw, "?state=dead"))
		waitFor(t, func() bool { return gaugeValue(b.gw.app.Metrics().EventDeliveriesDead) == 0 }, "dead gauge back to 0")

		st, out = b.gw.call(t, "POST", fmt.Sprintf("/v1/ops/event-deliveries/%d/retry", int64(dead[0]["id"].(float64))), nil)
		require.Equal(t, http.StatusConflict, st, "a delivered event is not retried: %v", out)
		st, out = b.gw.call(t, "POST", "/v1/ops/event-deliveries/999999/retry", nil)
		require.Equal(t, http.StatusNotFound, st, "%v", out)
	})

	// A replay of more deliveries than one page queues each exactly once,
	// page by page, also while the ones queued first fail again (and so
	// are replayable once more) before the replay ends.
	t.Run("ReplayOfManyQueuesEachDeadDeliveryOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.prod.setFail(func(int) bool { return true })
		const n = 2500
		_, err := b.gw.app.Pool().Exec(context.Background(), `INSERT INTO event_deliveries
			(subscription_id, event_id, event_type, payload, state, attempts, created_at, updated_at)
			SELECT $1, 'evt_' || i, 'message.received', '{}'::jsonb, 'dead', 4, now(), now()
			FROM generate_series(1, $2::integer) AS i`, b.sub, n)
		require.NoError(t, err)

		st, out := b.gw.call(t, "POST", fmt.Sprintf("/v1/ops/event-subscriptions/%d/replay", b.sub), nil)
		require.Equal(t, http.StatusAccepted, st, "%v", out)
		require.Equal(t, float64(n), out["replayed"])
		require.Equal(t, n, b.env.count(t, b.gw, `SELECT count(DISTINCT (args->>'delivery_id')::bigint)
			FROM river_job WHERE kind = 'event_delivery'`))
		require.Equal(t, n, b.env.count(t, b.gw, `SELECT count(*) FROM river_job WHERE kind = 'event_delivery'`),
			"a delivery was queued twice")
		// River stamps the jobs it inserts with their transaction's time.
		require.Equal(t, 3, b.env.count(t, b.gw, `SELECT count(DISTINCT created_at) FROM river_job WHERE kind = 'event_delivery'`),
			"the replay did not commit page by page")
	})

	// A receiver that answers with a redirect has not taken the event: the
	// attempt fails (and is retried), and the signed request goes nowhere
	// else.
	t.Run("RedirectIsAFailedAttemptNotADelivery", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		g := e.gateway(t, true)
		var elsewhere atomic.Int32
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			elsewhere.Add(1)
		}))
		t.Cleanup(target.Close)
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, http.StatusFound)
		}))
		t.Cleanup(redirect.Close)
		st, out := g.call(t, "POST", "/v1/ops/event-subscriptions", map[string]any{
			"url": redirect.URL, "event_types": []string{"message.received"},
		})
		require.Equal(t, http.StatusCreated, st, "%v", out)
		_, err := e.sim.InjectInbound("+14155550151", e.lines[0], "hello?")
		require.NoError(t, err)
		waitFor(t, func() bool {
			ds := deliveries(t, g, "")
			return len(ds) == 1 && ds[0]["last_status"] == float64(http.StatusFound)
		}, "the attempt answered 302")
		d := deliveries(t, g, "")[0]
		require.NotEqual(t, "delivered", d["state"], "%v", d)
		require.Zero(t, elsewhere.Load(), "the redirect was not followed")
	})

	t.Run("RotatedSecretSignsBesideTheOldOne", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		st, out := b.gw.call(t, "POST", fmt.Sprintf("/v1/ops/event-subscriptions/%d/rotate-secret", b.sub), nil)
		require.Equal(t, http.StatusOK, st, "%v", out)
		newSecret := out["secret"].(string)
		require.NotEmpty(t, out["subscription"].(map[string]any)["previous_secret_until"])
		// The product still verifies with the old secret during the overlap.
		_, err := b.env.sim.InjectInbound("+14155550141", b.env.lines[0], "old secret")
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("message.received")) == 1 }, "verified with the old secret")
		// And switches to the new one without a miss.
		b.prod.mu.Lock()
		b.prod.secret = newSecret
		b.prod.mu.Unlock()
		_, err = b.env.sim.InjectInbound("+14155550141", b.env.lines[0], "new secret")
		require.NoError(t, err)
		waitFor(t, func() bool { return len(b.prod.events("message.received")) == 2 }, "verified with the new secret")
		require.Zero(t, b.prod.bad)
	})

	t.Run("OneURLIsOneSubscriptionAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		types := []string{"message.received"}
		st, out := b.gw.call(t, "POST", "/v1/ops/event-subscriptions", map[string]any{"url": b.prod.srv.URL, "event_types": types})
		require.Equal(t, http.StatusConflict, st, "%v", out)
		e := out["error"].(map[string]any)
		require.Equal(t, "subscription_exists", e["code"])
		require.Equal(t, float64(b.sub), e["details"].(map[string]any)["subscription_id"])

		// Two replicas subscribing one new URL at once make one subscription.
		other := b.env.gateway(t, false)
		const url = "http://hooks.test/product"
		codes := make([]int, 8)
		var wg sync.WaitGroup
		for i := range codes {
			g := []*gw{b.gw, other}[i%2]
			wg.Go(func() {
				codes[i], _ = g.call(t, "POST", "/v1/ops/event-subscriptions", map[string]any{"url": url, "event_types": types})
			})
		}
		wg.Wait()
		counts := map[int]int{}
		for _, c := range codes {
			counts[c]++
		}
		require.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: len(codes) - 1}, counts)

		// Moving a subscription onto a URL taken is refused; onto its own, not.
		st, out = b.gw.call(t, "PATCH", fmt.Sprintf("/v1/ops/event-subscriptions/%d", b.sub), map[string]any{"url": url})
		require.Equal(t, http.StatusConflict, st, "%v", out)
		st, out = b.gw.call(t, "PATCH", fmt.Sprintf("/v1/ops/event-subscriptions/%d", b.sub), map[string]any{"url": b.prod.srv.URL, "event_types": types})
		require.Equal(t, http.StatusOK, st, "%v", out)
		st, out = b.gw.call(t, "GET", "/v1/ops/event-subscriptions", nil)
		require.Equal(t, http.StatusOK, st)
		require.Len(t, out["subscriptions"], 2)
	})

	t.Run("ADeletedUserIsOneUserDeletedEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		st, out := b.gw.call(t, "PATCH", fmt.Sprintf("/v1/ops/event-subscriptions/%d", b.sub), map[string]any{"event_types": []string{"user.deleted"}})
		require.Equal(t, http.StatusOK, st, "%v", out)
		b.gw.signup(t, "dora")
		st, _ = b.gw.call(t, "DELETE", "/v1/users/dora", nil)
		require.Equal(t, http.StatusNoContent, st)
		waitFor(t, func() bool { return len(b.prod.events("user.deleted")) == 1 }, "user.deleted delivered")
		ev := b.prod.events("user.deleted")[0]
		require.Equal(t, "dora", ev.Data["user_ref"])
		require.NotEmpty(t, ev.Data["deleted_at"])
		require.Equal(t, ev.ID, ev.WebhookID)
		// A refused delete (the user is gone) tells no one.
		st, _ = b.gw.call(t, "DELETE", "/v1/users/dora", nil)
		require.Equal(t, http.StatusNotFound, st)
		require.Len(t, deliveries(t, b.gw, ""), 1)
	})

	// Row ids start again in a new database: an event id made of them alone
	// would repeat there, and a receiver that dedupes by id would drop the
	// new event.
	t.Run("EventIDsDoNotRepeatInAnotherDatabase", func(t *testing.T) {
		t.Parallel()
		deleted := func() (int, string) {
			b := setup(t)
			st, out := b.gw.call(t, "PATCH", fmt.Sprintf("/v1/ops/event-subscriptions/%d", b.sub), map[string]any{"event_types": []string{"user.deleted"}})
			require.Equal(t, http.StatusOK, st, "%v", out)
			b.gw.signup(t, "dora")
			userID := b.env.count(t, b.gw, `SELECT id::int FROM users WHERE user_ref = 'dora'`)
			st, _ = b.gw.call(t, "DELETE", "/v1/users/dora", nil)
			require.Equal(t, http.StatusNoContent, st)
			waitFor(t, func() bool { return len(b.prod.events("user.deleted")) == 1 }, "user.deleted delivered")
			return userID, b.prod.events("user.deleted")[0].ID
		}
		row1, id1 := deleted()
		row2, id2 := deleted()
		require.Equal(t, row1, row2, "the same row id in both databases")
		require.NotEqual(t, id1, id2)
	})

	t.Run("SubscriptionInputIsValidated", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		cases := []struct {
			name string
			body map[string]any
		}{
			{"RelativeURL", map[string]any{"url": "/hook", "event_types": []string{"message.received"}}},
			{"UnknownType", map[string]any{"url": "http://x.test/h", "event_types": []string{"message.exploded"}}},
			{"NoTypes", map[string]any{"url": "http://x.test/h", "event_types": []string{}}},
		}
		for _, tc := range cases {
			st, out := b.gw.call(t, "POST", "/v1/ops/event-subscriptions", tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, st, "%s: %v", tc.name, out)
		}
		st, out := b.gw.call(t, "PATCH", fmt.Sprintf("/v1/ops/event-subscriptions/%d", b.sub), map[string]any{})
		require.Equal(t, http.StatusBadRequest, st, "a PATCH that changes nothing: %v", out)
		st, out = b.gw.call(t, "GET", "/v1/ops/event-subscriptions", nil)
		require.Equal(t, http.StatusOK, st)
		require.Len(t, out["subscriptions"], 1)
		require.NotContains(t, fmt.Sprint(out), "whsec_")
	})
}

func TestInboundFillsTheBudget(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t)
	g := e.gateway(t, true, func(c *config.Config) {
		c.LineDailyBudget, c.WarmupDays, c.ReplyReserve, c.MsgsPerUserPerDay = 20, 0, 0.10, 1
	})
	const handle = "+14155550151"
	body, line := g.signup(t, "carol")
	_, err := e.sim.InjectInbound(handle, line, body)
	require.NoError(t, err)
	for i := range 17 {
		_, err := e.sim.InjectInbound(handle, line, fmt.Sprintf("message %d", i))
		require.NoError(t, err)
	}
	waitFor(t, func() bool {
		return e.count(t, g, `SELECT coalesce(sum(v.inbound), 0)::int FROM line_volume v JOIN lines l ON l.id = v.line_id WHERE l.number = $1`, line) == 18
	}, "18 inbound counted")

	st, out := g.call(t, "POST", "/v1/messages", map[string]any{
		"user_ref": "carol", "parts": []map[string]string{{"type": "text", "value": "news!"}},
	})
	require.Equal(t, http.StatusTooManyRequests, st, "%v", out)
	require.Equal(t, "line_budget", out["error"].(map[string]any)["reason"])

	st, out = g.call(t, "POST", "/v1/messages", map[string]any{
		"user_ref": "carol", "intent": "reply", "parts": []map[string]string{{"type": "text", "value": "thanks for writing"}},
	})
	require.Equal(t, http.StatusCreated, st, "%v", out)
	require.Len(t, e.sim.SendLog(), 1)
}

func gaugeValue(g prometheus.Collector) float64 { return testutil.ToFloat64(g) }
