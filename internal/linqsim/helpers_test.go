package linqsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/testkit"
)

const testKey = "sk_test_linegate"

func newClock() *testkit.Clock { return testkit.NewClock(time.Now().UTC().Truncate(time.Second)) }

type testBundle struct {
	sim    *linqsim.Sim
	srv    *httptest.Server
	client *linq.Client
	lines  []string
	clock  *testkit.Clock
	reqs   atomic.Int64 // API requests that reached the simulator
}

type setupOpts struct {
	webhookURL string
	fakeClock  bool
	lines      int
}

func testLogger(t *testing.T) *slog.Logger { return testkit.Logger(t) }

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	b := &testBundle{}
	cfg := linqsim.Config{
		APIKey:     testKey,
		WebhookURL: o.webhookURL,
		LineCount:  max(o.lines, 3),
		RetryBase:  20 * time.Millisecond,
		Logger:     testLogger(t),
		Seed:       1,
	}
	if o.fakeClock {
		b.clock = newClock()
		cfg.Now = b.clock.Now
	}
	b.sim = linqsim.New(cfg)
	h := b.sim.Handler()
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.reqs.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		b.srv.Close()
		b.sim.Close()
	})
	for _, l := range b.sim.Lines() {
		b.lines = append(b.lines, l.PhoneNumber)
	}
	var err error
	b.client, err = linq.New(linq.Config{BaseURL: b.srv.URL, APIKey: testKey, MaxRetries: -1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call makes a raw API request and decodes a JSON answer into out (if not nil).
func (b *testBundle) call(t *testing.T, method, path string, body any, out any) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header
}

type errEnvelope struct {
	Error struct {
		Code       int    `json:"code"`
		Message    string `json:"message"`
		DocURL     string `json:"doc_url"`
		RetryAfter *int   `json:"retry_after"`
	} `json:"error"`
}

func text(s string) linq.MessageContent {
	return linq.MessageContent{Parts: []linq.Part{linq.TextPart(s)}}
}

func (b *testBundle) createChat(t *testing.T, from string, to ...string) *linq.CreateChatResponse {
	t.Helper()
	res, err := b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: from, To: to, Message: text("hello")})
	if err != nil {
		t.Fatalf("CreateChat: %v", err)
	}
	return res
}

func wantAPIError(t *testing.T, err error, status, code int) {
	t.Helper()
	e, ok := linq.AsError(err)
	if !ok {
		t.Fatalf("error = %v, want linq %d/%d", err, status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("error = %d/%d %q, want %d/%d", e.Status, e.Code, e.Message, status, code)
	}
	if e.Message == "" || e.DocURL == "" {
		t.Fatalf("error envelope incomplete: %+v", e)
	}
}

// receiver is a webhook target that records deliveries.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	status atomic.Int32 // answer status; 0 means 200
}

type delivery struct {
	header http.Header
	body   []byte
	event  *linq.WebhookEvent
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if st := rc.status.Load(); st != 0 {
		w.WriteHeader(int(st))
		return
	}
	ev, _ := linq.ParseWebhookEvent(body)
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, event: ev})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// waitFor polls until pred holds over the deliveries so far.
func (rc *receiver) waitFor(t *testing.T, what string, pred func([]delivery) bool) []delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := rc.all()
		if pred(got) {
			return got
		}
		if time.Now().After(deadline) {
			types := make([]string, len(got))
			for i, d := range got {
				if d.event != nil {
					types[i] = d.event.EventType
				}
			}
			t.Fatalf("timed out waiting for %s; got %v", what, types)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ofType(ds []delivery, eventType string) []delivery {
	var out []delivery
	for _, d := range ds {
		if d.event != nil && d.event.EventType == eventType {
			out = append(out, d)
		}
	}
	return out
}

func hasTypes(types ...string) func([]delivery) bool {
	return func(ds []delivery) bool {
		for _, ty := range types {
			if len(ofType(ds, ty)) == 0 {
				return false
			}
		}
		return true
	}
}

type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) { r.status = s }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func stringsReader(s string) io.Reader { return bytes.NewBufferString(s) }

func doDecode(t *testing.T, r *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return resp.StatusCode
}
