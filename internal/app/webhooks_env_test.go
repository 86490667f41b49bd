package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/app"
	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/testkit"
)

// testWebhookSecret is configured on every test gateway, so tests can sign
// deliveries of their own beside the simulator's.
const testWebhookSecret = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5"

// hookEnv is one database and one simulator that gateways share.
type hookEnv struct {
	sim    *linqsim.Sim
	simSrv *httptest.Server
	dbURL  string
	lines  []string
}

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	sim := linqsim.New(linqsim.Config{LineCount: 2, Logger: testkit.Logger(t), RetryBase: 20 * time.Millisecond})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })
	e := &hookEnv{sim: sim, simSrv: srv, dbURL: pgtest.NewURL(t)}
	for _, l := range sim.Lines() {
		e.lines = append(e.lines, l.PhoneNumber)
	}
	return e
}

func (e *hookEnv) config() config.Config {
	cfg := app.TestConfig(e.dbURL)
	cfg.LineSyncSpec = "@every 1h"
	cfg.LinqWebhookSecrets = testWebhookSecret
	cfg.JobPollInterval = 20 * time.Millisecond
	// A short retry schedule: four attempts a millisecond apart.
	cfg.EventRetryBase, cfg.EventRetryMaxDelay, cfg.EventRetryFor = time.Millisecond, time.Millisecond, 3*time.Millisecond
	return cfg
}

// gw is one gateway instance with its own public URL.
type gw struct {
	app *app.App
	srv *httptest.Server
	key string
}

// gateway starts an instance; start=false leaves its job queue stopped
// (it accepts webhooks but processes nothing).
func (e *hookEnv) gateway(t *testing.T, start bool, mutate ...func(*config.Config)) *gw {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg := e.config()
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	for _, m := range mutate {
		m(&cfg)
	}
	a := app.NewForTest(t, cfg, app.WithLinqBaseURL(e.simSrv.URL))
	srv.Config.Handler = a.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	if start {
		require.NoError(t, a.Start(context.Background()))
	}
	key, _, err := a.Keys().Create(context.Background(), "product", apikey.AllScopes)
	require.NoError(t, err)
	return &gw{app: a, srv: srv, key: key}
}

func (g *gw) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.srv.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+g.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// signup creates a user and returns the prefilled body and the line.
func (g *gw) signup(t *testing.T, ref string) (body, line string) {
	t.Helper()
	st, out := g.call(t, "POST", "/v1/signups", map[string]any{"user_ref": ref})
	require.Contains(t, []int{200, 201}, st, "%v", out)
	ln, _ := out["line"].(map[string]any)
	return out["body"].(string), ln["number"].(string)
}

func (g *gw) send(t *testing.T, ref, text string) (int, map[string]any) {
	t.Helper()
	return g.call(t, "POST", "/v1/messages", map[string]any{
		"user_ref": ref, "parts": []map[string]string{{"type": "text", "value": text}},
	})
}

// postSigned delivers body to the gateway's webhook route signed with the
// test secret at ts.
func postSigned(t *testing.T, url string, body []byte, ts time.Time) (int, error) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/v1/linq/webhooks", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	id := "msg_" + strconv.FormatInt(ts.UnixNano(), 36)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(linq.HeaderWebhookID, id)
	req.Header.Set(linq.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(linq.HeaderWebhookSignature, linq.SignStandard(testWebhookSecret, id, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// productEvent is one event a product endpoint received.
type productEvent struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	// WebhookID is the webhook-id header.
	WebhookID string `json:"-"`
}

// product is a product service's endpoint. fail answers 503 while it
// returns true (it is given the attempt number, from 1).
type product struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []productEvent
	hits   int
	bad    int
	// ids is the webhook-id of every signed attempt, failed ones included.
	ids  []string
	fail func(hit int) bool
}

func newProduct(t *testing.T) *product {
	t.Helper()
	p := &product{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.hits++
		if linq.VerifyWebhook([]string{p.secret}, r.Header, body, time.Now(), 0) != nil {
			p.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		p.ids = append(p.ids, r.Header.Get(linq.HeaderWebhookID))
		if p.fail != nil && p.fail(p.hits) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev productEvent
		if json.Unmarshal(body, &ev) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ev.WebhookID = r.Header.Get(linq.HeaderWebhookID)
		p.got = append(p.got, ev)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *product) setFail(f func(hit int) bool) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

func (p *product) events(typ string) []productEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []productEvent
	for _, e := range p.got {
		if typ == "" || e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// subscribe registers p for every event type on g.
func (p *product) subscribe(t *testing.T, g *gw) int64 {
	t.Helper()
	st, out := g.call(t, "POST", "/v1/ops/event-subscriptions", map[string]any{
		"url": p.srv.URL, "event_types": []string{"message.received", "message.status", "user.connected", "user.opted_out", "user.opted_in"},
	})
	require.Equal(t, http.StatusCreated, st, "%v", out)
	p.mu.Lock()
	p.secret = out["secret"].(string)
	p.mu.Unlock()
	return int64(out["subscription"].(map[string]any)["id"].(float64))
}

// waitFor polls cond; the gateway works asynchronously by design.
// waitFor polls cond in the test's own goroutine (cond may use require)
// until it holds, failing after 20 s.
func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	waitForWithin(t, 20*time.Second, cond, msg)
}

// waitForWithin is waitFor with its own deadline, for waits on thousands of
// deliveries, which a loaded machine running the whole suite slows.
func waitForWithin(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receivedEvent is a message.received envelope as Linq sends it.
func receivedEvent(t *testing.T, eventID, line, from, text string) []byte {
	t.Helper()
	now := time.Now().UTC()
	b, err := json.Marshal(map[string]any{
		"event_id": eventID, "event_type": "message.received", "created_at": now, "api_version": "v3",
		"webhook_version": "2026-02-03", "partner_id": "p", "trace_id": "t",
		"data": map[string]any{
			"id": "m_" + eventID, "direction": "inbound", "service": "iMessage",
			"chat":          map[string]any{"id": "chat_" + from, "owner_handle": map[string]any{"handle": line, "is_me": true}},
			"sender_handle": map[string]any{"handle": from},
			"parts":         []map[string]any{{"type": "text", "value": text}},
		},
	})
	require.NoError(t, err)
	return b
}

// count runs a counting query against the environment's database.
func (e *hookEnv) count(t *testing.T, g *gw, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, g.app.Pool().QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
