package messaging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/linqsim"
)

// instance is one gateway replica behind its own HTTP server.
type instance struct {
	app *app.App
	srv *httptest.Server
}

type apiResp struct {
	status int
	header http.Header
	body   map[string]any
}

func (in instance) call(t *testing.T, method, path, key string, body any) apiResp {
	t.Helper()
	r, err := in.do(method, path, key, body)
	require.NoError(t, err)
	return r
}

// do is call for goroutines: it returns its error for the test goroutine
// to assert on.
func (in instance) do(method, path, key string, body any) (apiResp, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiResp{}, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, in.srv.URL+path, rd)
	if err != nil {
		return apiResp{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := in.srv.Client().Do(req)
	if err != nil {
		return apiResp{}, err
	}
	defer resp.Body.Close()
	out := apiResp{status: resp.StatusCode, header: resp.Header}
	_ = json.NewDecoder(resp.Body).Decode(&out.body)
	return out, nil
}

func errCode(r apiResp) string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// setupReplicas starts n gateway instances on one database and one simulator.
func setupReplicas(t *testing.T, n int) (*env, []instance, string) {
	t.Helper()
	e := newEnv(t)
	cfg := app.TestConfig(e.url)
	cfg.LineSyncSpec = "@every 1h"
	var out []instance
	for range n {
		a := app.NewForTest(t, cfg, app.WithLinqBaseURL(e.srv.URL))
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(srv.Close)
		out = append(out, instance{app: a, srv: srv})
	}
	key, _, err := out[0].app.Keys().Create(context.Background(), "product", apikey.AllScopes)
	require.NoError(t, err)
	return e, out, key
}

// maxInAnyWindow is the most sends of one sorted series within any closed
// 60 s interval.
func maxInAnyWindow(times []time.Time) int {
	best := 0
	for i := range times {
		j := sort.Search(len(times), func(k int) bool { return times[k].After(times[i].Add(60 * time.Second)) })
		best = max(best, j-i)
	}
	return best
}

func TestReplicas(t *testing.T) {
	t.Parallel()

	t.Run("TwoInstancesNeverPassThePairLimit", func(t *testing.T) {
		t.Parallel()
		e, gws, key := setupReplicas(t, 2)
		line, _ := e.addLine(t)
		var refs []string
		for range 3 {
			ref, _ := e.addUser(t, line)
			refs = append(refs, ref)
		}
		// Workers only collect; the test goroutine asserts.
		var mu sync.Mutex
		var resps []apiResp
		var errs []error
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := range 15 {
					r, err := gws[w%2].do("POST", "/v1/messages", key, map[string]any{
						"user_ref": refs[(w+i)%len(refs)], "parts": []map[string]string{{"type": "text", "value": "tick"}},
					})
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else {
						resps = append(resps, r)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Empty(t, errs)
		statuses := map[int]int{}
		for _, r := range resps {
			statuses[r.status]++
			if r.status == http.StatusTooManyRequests {
				require.Equal(t, "pair_limit", errCode(r))
				require.NotEmpty(t, r.header.Get("Retry-After"))
			} else {
				require.Equal(t, http.StatusCreated, r.status, "%v", r.body)
			}
		}
		t.Logf("statuses: %v", statuses)
		require.Equal(t, 3*30, statuses[http.StatusCreated])

		perPair := map[string][]time.Time{}
		for _, s := range e.sim.SendLog() {
			for _, to := range s.To {
				perPair[s.From+"|"+to] = append(perPair[s.From+"|"+to], s.At)
			}
		}
		require.Len(t, perPair, 3)
		for pair, times := range perPair {
			slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
			require.LessOrEqual(t, maxInAnyWindow(times), 30, pair)
		}
		require.Zero(t, e.sim.Count429())
		for _, g := range gws {
			require.Zero(t, counterValue(t, g.app.Metrics().Upstream429))
		}
	})

	t.Run("IneligibleLineAnswers503AndStopsTakingSignups", func(t *testing.T) {
		t.Parallel()
		e, gws, key := setupReplicas(t, 1)
		flagged, number := e.addLine(t)
		healthy, _ := e.addLine(t)
		ref, _ := e.addUser(t, flagged)
		require.NoError(t, e.sim.FlagLine(number))

		r := gws[0].call(t, "POST", "/v1/messages", key, map[string]any{
			"user_ref": ref, "parts": []map[string]string{{"type": "text", "value": "hi"}},
		})
		require.Equal(t, http.StatusServiceUnavailable, r.status, "%v", r.body)
		require.Equal(t, "line_unavailable", errCode(r))
		require.NotEmpty(t, r.header.Get("Retry-After"), "a 503 says when to ask again")
		require.Empty(t, e.sim.SendLog())

		for i := range 4 {
			r := gws[0].call(t, "POST", "/v1/signups", key, map[string]any{"user_ref": fmt.Sprintf("new-%d", i)})
			require.Equal(t, http.StatusCreated, r.status, "%v", r.body)
			l, _ := r.body["line"].(map[string]any)
			require.Equal(t, float64(healthy), l["id"], "signups go to the healthy line")
		}
	})

	t.Run("PassThroughsUseTheMessagesLineAndCount", func(t *testing.T) {
		t.Parallel()
		e, gws, key := setupReplicas(t, 1)
		line, number := e.addLine(t)
		ref, _ := e.addUser(t, line)
		gw := gws[0]
		text := []map[string]string{{"type": "text", "value": "hello"}}

		r := gw.call(t, "POST", "/v1/users/"+ref+"/typing", key, nil)
		require.Equal(t, http.StatusNotFound, r.status, "no chat yet")
		require.Equal(t, "chat_not_found", errCode(r))

		r = gw.call(t, "POST", "/v1/messages", key, map[string]any{"user_ref": ref, "parts": text, "idempotency_key": "a"})
		require.Equal(t, http.StatusCreated, r.status, "%v", r.body)
		id := r.body["id"].(string)
		require.Equal(t, "a", r.body["idempotency_key"])
		require.Equal(t, number, r.body["line"].(map[string]any)["number"])
		replay := gw.call(t, "POST", "/v1/messages", key, map[string]any{"user_ref": ref, "parts": text, "idempotency_key": "a"})
		require.Equal(t, http.StatusCreated, replay.status)
		require.Equal(t, "true", replay.header.Get("Idempotent-Replayed"))
		require.Equal(t, r.body, replay.body)
		reused := gw.call(t, "POST", "/v1/messages", key, map[string]any{"user_ref": ref, "parts": text, "idempotency_key": "a", "intent": "reply"})
		require.Equal(t, http.StatusUnprocessableEntity, reused.status)
		require.Equal(t, "idempotency_key_reused", errCode(reused))

		r = gw.call(t, "POST", "/v1/messages/"+id+"/reactions", key, map[string]any{"operation": "add", "type": "love"})
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		r = gw.call(t, "PATCH", "/v1/messages/"+id, key, map[string]any{"text": "hello!"})
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		r = gw.call(t, "POST", "/v1/users/"+ref+"/typing", key, nil)
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		r = gw.call(t, "DELETE", "/v1/users/"+ref+"/typing", key, nil)
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		r = gw.call(t, "POST", "/v1/users/"+ref+"/share-contact-card", key, nil)
		require.Equal(t, http.StatusNotFound, r.status, "the line has no contact card: %v", r.body)

		// The send, the reaction and the edit count: 3 in the pair window.
		var n int
		require.NoError(t, e.pool.QueryRow(context.Background(),
			`SELECT cardinality(sends) FROM pair_state WHERE line_id = $1`, line).Scan(&n))
		require.Equal(t, 3, n)
		require.NoError(t, e.pool.QueryRow(context.Background(),
			`SELECT coalesce(sum(outbound), 0) FROM line_volume WHERE line_id = $1`, line).Scan(&n))
		require.Equal(t, 3, n, "the reaction and the edit count toward the line budget too")

		// Linq deletes the message but its answer is lost: the DELETE is
		// retried, Linq no longer knows the message, and that is a delete.
		e.sim.SetFaults(linqsim.Faults{FailNext: 1})
		r = gw.call(t, "DELETE", "/v1/messages/"+id, key, nil)
		e.sim.SetFaults(linqsim.Faults{})
		if r.status != http.StatusOK {
			require.Equal(t, http.StatusBadGateway, r.status, "%v", r.body)
			r = gw.call(t, "DELETE", "/v1/messages/"+id, key, nil)
		}
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		require.Equal(t, "deleted", r.body["status"])
		// Again: answered from the record, as the first time.
		again := gw.call(t, "DELETE", "/v1/messages/"+id, key, nil)
		require.Equal(t, http.StatusOK, again.status, "%v", again.body)
		require.Equal(t, "deleted", again.body["status"])
		got := gw.call(t, "GET", "/v1/messages/"+id, key, nil)
		require.Equal(t, http.StatusOK, got.status)
		require.NotNil(t, got.body["deleted_at"])
		r = gw.call(t, "POST", "/v1/messages/"+id+"/reactions", key, map[string]any{"operation": "add", "type": "love"})
		require.Equal(t, http.StatusConflict, r.status, "%v", r.body)
		require.Equal(t, "message_deleted", errCode(r))
		r = gw.call(t, "POST", "/v1/messages/not-an-id/reactions", key, map[string]any{"operation": "add", "type": "love"})
		require.Equal(t, http.StatusNotFound, r.status)
	})

	t.Run("GetShowsAMessageRecordedRightAfterItsSend", func(t *testing.T) {
		t.Parallel()
		e, gws, key := setupReplicas(t, 2)
		line, number := e.addLine(t)
		ref, _ := e.addUser(t, line)
		text := []map[string]string{{"type": "text", "value": "hello"}}
		r := gws[0].call(t, "POST", "/v1/messages", key, map[string]any{"user_ref": ref, "parts": text, "idempotency_key": "g"})
		require.Equal(t, http.StatusCreated, r.status, "%v", r.body)
		id := r.body["id"].(string)
		for range 3 {
			// At once, and on the other replica: the send's record lands
			// behind its answer, and the look-up waits for it.
			r = gws[0].call(t, "POST", "/v1/messages", key, map[string]any{"user_ref": ref, "parts": text})
			require.Equal(t, http.StatusCreated, r.status, "%v", r.body)
			got := gws[1].call(t, "GET", "/v1/messages/"+r.body["id"].(string), key, nil)
			require.Equal(t, http.StatusOK, got.status, "%v", got.body)
			require.Equal(t, "sent", got.body["state"])
			require.Equal(t, r.body["linq_message_id"], got.body["linq_message_id"])
			// The send's answer and the look-up agree on what is absent.
			require.Equal(t, got.body["idempotency_key"], r.body["idempotency_key"], "the derived key")
			require.Contains(t, r.body, "trace_id")
			require.Equal(t, got.body["trace_id"], r.body["trace_id"], "null in both when Linq gave none")
		}

		got := gws[1].call(t, "GET", "/v1/messages/"+id, key, nil)
		require.Equal(t, http.StatusOK, got.status, "%v", got.body)
		require.Equal(t, id, got.body["id"])
		require.Equal(t, ref, got.body["user_ref"])
		require.Equal(t, number, got.body["line"].(map[string]any)["number"])
		require.Equal(t, "g", got.body["idempotency_key"])
		require.Equal(t, "proactive", got.body["intent"])
		require.NotEmpty(t, got.body["chat_id"])
		require.NotEmpty(t, got.body["status"])

		for _, path := range []string{"/v1/messages/not-an-id", "/v1/messages/01a24500-0000-7000-8000-000000000000"} {
			r := gws[0].call(t, "GET", path, key, nil)
			require.Equal(t, http.StatusNotFound, r.status, path)
			require.Equal(t, "message_not_found", errCode(r))
		}
	})

	t.Run("OpsListAndReleaseQuarantines", func(t *testing.T) {
		t.Parallel()
		e, gws, key := setupReplicas(t, 1)
		line, _ := e.addLine(t)
		handle := "+14155550199"
		_, err := e.pool.Exec(context.Background(),
			`INSERT INTO pair_state (line_id, handle, quarantined_until) VALUES ($1, $2, now() + interval '1 hour')`, line, handle)
		require.NoError(t, err)
		_, err = e.pool.Exec(context.Background(),
			`INSERT INTO pair_quarantines (line_id, handle, hits, started_at, until) VALUES ($1, $2, 3, now(), now() + interval '1 hour')`, line, handle)
		require.NoError(t, err)

		r := gws[0].call(t, "GET", "/v1/ops/quarantines", key, nil)
		require.Equal(t, http.StatusOK, r.status)
		qs := r.body["quarantines"].([]any)
		require.Len(t, qs, 1)
		require.Equal(t, handle, qs[0].(map[string]any)["handle"])

		path := fmt.Sprintf("/v1/ops/quarantines/%d/%s", line, url.PathEscape(handle))
		r = gws[0].call(t, "DELETE", path, key, nil)
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		r = gws[0].call(t, "DELETE", path, key, nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.True(t, strings.Contains(errCode(r), "quarantine"))
		r = gws[0].call(t, "GET", "/v1/ops/quarantines", key, nil)
		require.Empty(t, r.body["quarantines"])
	})
}
