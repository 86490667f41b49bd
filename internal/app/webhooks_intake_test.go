package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/linq"
)

func TestWebhookIntake(t *testing.T) {
	t.Parallel()

	t.Run("BadDeliveriesAreRefusedAndStoreNothing", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		g := e.gateway(t, false)
		body := receivedEvent(t, "evt_bad", e.lines[0], "+14155550111", "hi")
		now := time.Now()
		header := func(secret string, b []byte, ts time.Time) http.Header {
			h := http.Header{}
			h.Set(linq.HeaderWebhookID, "msg_1")
			h.Set(linq.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
			h.Set(linq.HeaderWebhookSignature, linq.SignStandard(secret, "msg_1", ts, b))
			return h
		}
		huge := append([]byte(`{"event_id":"x","event_type":"message.received","data":{"pad":"`), bytes.Repeat([]byte("a"), 2<<20)...)
		huge = append(huge, []byte(`"}}`)...)
		cases := []struct {
			name   string
			body   []byte
			header http.Header
			status int
			code   string
		}{
			{"NoHeaders", body, http.Header{}, 401, "missing_signature"},
			{"WrongSecret", body, header("whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==", body, now), 401, "invalid_signature"},
			{"TamperedBody", bytes.Replace(body, []byte(`"hi"`), []byte(`"ho"`), 1), header(testWebhookSecret, body, now), 401, "invalid_signature"},
			{"StaleTimestamp", body, header(testWebhookSecret, body, now.Add(-10*time.Minute)), 401, "stale_timestamp"},
			{"TruncatedJSON", body[:len(body)/2], header(testWebhookSecret, body[:len(body)/2], now), 400, "invalid_event"},
			{"UnknownEnvelope", []byte(`{"hello":"world"}`), header(testWebhookSecret, []byte(`{"hello":"world"}`), now), 400, "invalid_event"},
			{"TwoMiBBody", huge, header(testWebhookSecret, huge, now), 413, "body_too_large"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				req, err := http.NewRequest("POST", g.srv.URL+"/v1/linq/webhooks", bytes.NewReader(tc.body))
				require.NoError(t, err)
				req.Header = tc.header
				req.Header.Set("Content-Type", "application/json")
				resp, err := g.srv.Client().Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, tc.status, resp.StatusCode)
				var env envelope
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
				require.Equal(t, tc.code, env.Error.Code)
				require.Zero(t, e.count(t, g, "SELECT count(*) FROM webhook_events"))
				require.Zero(t, e.count(t, g, "SELECT count(*) FROM river_job"))
			})
		}
	})

	// A client that asks before sending a large body ("Expect:
	// 100-continue", as curl does past 1 MiB) gets the 413 at once, not a
	// 100 and a reset halfway through its upload.
	t.Run("DeclaredTooLargeIsAnsweredBeforeTheBodyIsSent", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		g := e.gateway(t, false)
		for _, path := range []string{"/v1/linq/webhooks", "/v1/messages"} {
			body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("a"), 5<<20))}
			req, err := http.NewRequest("POST", g.srv.URL+path, body)
			require.NoError(t, err)
			req.ContentLength = 5 << 20
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Expect", "100-continue")
			req.Header.Set("Authorization", "Bearer "+g.key)
			tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
			t.Cleanup(tr.CloseIdleConnections)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			require.NoError(t, err, path)
			var env envelope
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, path)
			require.Equal(t, "body_too_large", env.Error.Code)
			require.Zero(t, body.n.Load(), "%s: nothing of the body was sent", path)
		}
	})

	t.Run("SameEventFiveTimesToTwoInstancesCountsOnce", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		gws := []*gw{e.gateway(t, true), e.gateway(t, true)}
		p := newProduct(t)
		p.subscribe(t, gws[0])
		line := e.lines[0]
		body := receivedEvent(t, "evt_dup_1", line, "+14155550112", "hello twice")

		var wg sync.WaitGroup
		statuses := make([]int, 5)
		errs := make([]error, 5)
		for i := range 5 {
			wg.Go(func() { statuses[i], errs[i] = postSigned(t, gws[i%2].srv.URL, body, time.Now()) })
		}
		wg.Wait()
		for i := range 5 {
			require.NoError(t, errs[i])
			require.Equal(t, http.StatusOK, statuses[i])
		}
		waitFor(t, func() bool {
			return e.count(t, gws[0], "SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL") == 1 &&
				len(p.events("message.received")) == 1
		}, "processed and delivered")
		require.Equal(t, 1, e.count(t, gws[0], "SELECT count(*) FROM webhook_events"))
		require.Equal(t, 1, e.count(t, gws[0], "SELECT count(*) FROM river_job WHERE kind = 'linq_webhook_event'"))
		require.Equal(t, 1, e.count(t, gws[1], `SELECT coalesce(sum(v.inbound), 0)::int FROM line_volume v JOIN lines l ON l.id = v.line_id WHERE l.number = $1`, line))
		require.Equal(t, 1, e.count(t, gws[1], "SELECT count(*) FROM event_deliveries WHERE event_type = 'message.received'"))
		require.Len(t, p.events("message.received"), 1)
	})

	t.Run("AcceptedEventSurvivesTheInstanceThatAcceptedIt", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		first := e.gateway(t, false) // accepts, never processes
		p := newProduct(t)
		p.subscribe(t, first)
		st, err := postSigned(t, first.srv.URL, receivedEvent(t, "evt_crash_1", e.lines[0], "+14155550113", "still there?"), time.Now())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st)
		require.Equal(t, 1, e.count(t, first, "SELECT count(*) FROM webhook_events WHERE processed_at IS NULL"))
		first.srv.Close()
		first.app.Close()

		second := e.gateway(t, true)
		waitFor(t, func() bool { return len(p.events("message.received")) == 1 }, "processed by the fresh instance")
		require.Equal(t, 1, e.count(t, second, "SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL"))
		require.Equal(t, "still there?", p.events("message.received")[0].Data["text"])
	})

	t.Run("ProcessedPayloadKeepsNoMessageText", func(t *testing.T) {
		t.Parallel()
		e := newHookEnv(t)
		g := e.gateway(t, true)
		st, err := postSigned(t, g.srv.URL, receivedEvent(t, "evt_text_1", e.lines[0], "+14155550114", "a secret plan"), time.Now())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st)
		waitFor(t, func() bool {
			return e.count(t, g, "SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL") == 1
		}, "processed")
		require.Zero(t, e.count(t, g, "SELECT count(*) FROM webhook_events WHERE payload::text LIKE '%secret plan%'"))
	})
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
