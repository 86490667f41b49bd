package linq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const secretKey = "sk_live_do_not_log_me"

type stub struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	bodies   []string
	headers  []http.Header
	urls     []string
}

// newStub serves answers in order; the last answer repeats.
func newStub(t *testing.T, answers ...func(w http.ResponseWriter)) *stub {
	t.Helper()
	s := &stub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1)) - 1
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(body))
		s.headers = append(s.headers, r.Header.Clone())
		s.urls = append(s.urls, r.URL.String())
		s.mu.Unlock()
		answers[min(n, len(answers)-1)](w)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func answer(status int, body string, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const okSend = `{"chat_id":"c1","message":{"id":"m1","created_at":"2026-02-03T10:00:00Z","delivery_status":"queued","is_read":false,"parts":[],"sent_at":null}}`

type sleeps struct {
	mu  sync.Mutex
	got []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.got = append(s.got, d)
	s.mu.Unlock()
	return nil
}

func newTestClient(t *testing.T, url string, sl *sleeps, logs io.Writer) *Client {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	c, err := New(Config{BaseURL: url, APIKey: secretKey, SleepFunc: sl.sleep,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sendReq(key string) SendMessageRequest {
	return SendMessageRequest{Message: MessageContent{Parts: []Part{{Value: "secret words"}}, IdempotencyKey: key}}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Fatal("no API key accepted")
	}
	if _, err := New(Config{APIKey: "k", BaseURL: "ftp://x"}); err == nil {
		t.Fatal("ftp base URL accepted")
	}
	c, err := New(Config{APIKey: "k"})
	if err != nil || c.BaseURL() != DefaultBaseURL {
		t.Fatalf("default base URL %q %v", c.BaseURL(), err)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost < 256 {
		t.Fatalf("default transport not tuned: %+v", c.hc.Transport)
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	st := newStub(t, answer(200, okSend), answer(204, ""), answer(200, `{"chats":[],"next_cursor":null}`))
	c := newTestClient(t, st.srv.URL+"/api/partner/", &sleeps{}, nil)
	ctx := context.Background()
	req := SendMessageRequest{Message: MessageContent{Parts: []Part{
		{Value: "hello"}, {URL: "https://a.io/x.png"}, LinkPart("https://l.io"), {App: &IMessageApp{BundleID: "b", Name: "n", TeamID: "t"}},
	}}}
	if _, err := c.SendMessage(ctx, "chat-1", req); err != nil {
		t.Fatal(err)
	}
	if req.Message.Parts[0].Type != "" {
		t.Fatal("the caller's parts were modified")
	}
	var sent struct {
		Message struct {
			Parts []map[string]any `json:"parts"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(st.bodies[0]), &sent); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"text", "media", "link", "imessage_app"} {
		if sent.Message.Parts[i]["type"] != want {
			t.Fatalf("part %d type = %v, want %s (body %s)", i, sent.Message.Parts[i]["type"], want, st.bodies[0])
		}
	}
	h := st.headers[0]
	if h.Get("Authorization") != "Bearer "+secretKey || h.Get("Content-Type") != "application/json" || h.Get("Accept") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if st.urls[0] != "/api/partner/v3/chats/chat-1/messages" {
		t.Fatalf("url %s", st.urls[0])
	}
	if _, err := c.StartTyping(ctx, "chat-1"); err != nil {
		t.Fatal(err)
	}
	if st.headers[1].Get("Accept") != "*/*" || st.headers[1].Get("Content-Type") != "" || st.bodies[1] != "" {
		t.Fatalf("typing request %v %q", st.headers[1], st.bodies[1])
	}
	if _, err := c.ListChats(ctx, ListChatsParams{From: "+15551234567", To: "+15557654321", Limit: 5, Cursor: "abc"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.urls[2], "from=%2B15551234567") || !strings.Contains(st.urls[2], "to=%2B15557654321") ||
		!strings.Contains(st.urls[2], "limit=5") || !strings.Contains(st.urls[2], "cursor=abc") {
		t.Fatalf("list url %s", st.urls[2])
	}
	// A part whose type cannot be inferred is refused before any request.
	_, err := c.SendMessage(ctx, "chat-1", SendMessageRequest{Message: MessageContent{Parts: []Part{{}}}})
	if !errors.Is(err, ErrNotAttempted) || !NotSent(err) {
		t.Fatalf("empty part = %v", err)
	}
	if _, err := c.GetChat(ctx, " "); !errors.Is(err, ErrNotAttempted) {
		t.Fatalf("empty id = %v", err)
	}
	if st.requests.Load() != 3 {
		t.Fatalf("%d requests", st.requests.Load())
	}
}

func TestErrorDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer func(http.ResponseWriter)
		want   Error
		check  func(error) bool
	}{
		{"OptedOut", answer(403, `{"error":{"code":2024,"message":"opted out","doc_url":"https://d/2024"},"success":false,"trace_id":"tr-1"}`),
			Error{Status: 403, Code: 2024, Message: "opted out", DocURL: "https://d/2024", TraceID: "tr-1"}, IsOptedOut},
		{"Blocked", answer(403, `{"error":{"code":2026,"message":"blocked","doc_url":"u"}}`, "X-Trace-Id", "hdr-trace"),
			Error{Status: 403, Code: 2026, Message: "blocked", DocURL: "u", TraceID: "hdr-trace"}, IsBlocked},
		{"Ineligible", answer(403, `{"error":{"code":2027,"message":"flagged","doc_url":"u"}}`),
			Error{Status: 403, Code: 2027, Message: "flagged", DocURL: "u"}, IsLineIneligible},
		{"FirstMessage", answer(400, `{"error":{"code":1005,"message":"link","doc_url":"u"}}`),
			Error{Status: 400, Code: 1005, Message: "link", DocURL: "u"}, IsFirstMessageRule},
		{"PairLimitBodyOnly", answer(429, `{"error":{"code":1007,"message":"slow","doc_url":"u","retry_after":12}}`),
			Error{Status: 429, Code: 1007, Message: "slow", DocURL: "u", RetryAfter: 12 * time.Second}, IsPairLimit},
		{"PairLimitHeaderWins", answer(429, `{"error":{"code":1007,"message":"slow","doc_url":"u","retry_after":12}}`, "Retry-After", "7"),
			Error{Status: 429, Code: 1007, Message: "slow", DocURL: "u", RetryAfter: 7 * time.Second}, IsPairLimit},
		{"RetryAfterMsFirst", answer(429, `{"error":{"code":1,"message":"m","doc_url":"u"}}`, "Retry-After", "7", "Retry-After-Ms", "250"),
			Error{Status: 429, Code: 1, Message: "m", DocURL: "u", RetryAfter: 250 * time.Millisecond}, IsRateLimited},
		{"NoEnvelope", answer(404, `not json`),
			Error{Status: 404, Message: "Not Found"}, IsNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStub(t, tt.answer)
			c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
			_, err := c.SendMessage(context.Background(), "c", sendReq(""))
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			got := *e
			got.uncertain = false
			if got != tt.want {
				t.Fatalf("error = %+v, want %+v", got, tt.want)
			}
			if !tt.check(err) || !NotSent(err) {
				t.Fatalf("helpers on %v", err)
			}
			if !strings.Contains(err.Error(), "linq: ") {
				t.Fatalf("message %q", err.Error())
			}
		})
	}
}

func TestRetryRules(t *testing.T) {
	t.Parallel()
	fail500 := answer(500, `{"error":{"code":1000,"message":"boom","doc_url":"u"}}`)
	t.Run("SendWithoutKeyNeverRetried", func(t *testing.T) {
		t.Parallel()
		for _, a := range []func(http.ResponseWriter){fail500, answer(429, `{}`, "Retry-After", "1"), answer(408, ``)} {
			st := newStub(t, a)
			c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
			if _, err := c.SendMessage(context.Background(), "c", sendReq("")); err == nil {
				t.Fatal("send passed")
			}
			if _, err := c.CreateChat(context.Background(), CreateChatRequest{From: "+1", To: []string{"+2"}, Message: sendReq("").Message}); err == nil {
				t.Fatal("create passed")
			}
			if n := st.requests.Load(); n != 2 {
				t.Fatalf("%d requests for two sends without key", n)
			}
		}
	})
	t.Run("SendWithKeyRetried", func(t *testing.T) {
		t.Parallel()
		sl := &sleeps{}
		st := newStub(t, fail500, answer(502, ``), answer(200, okSend))
		c := newTestClient(t, st.srv.URL, sl, nil)
		res, err := c.SendMessage(context.Background(), "c", sendReq("k1"))
		if err != nil || res.Message.ID != "m1" {
			t.Fatalf("send = %+v, %v", res, err)
		}
		if st.requests.Load() != 3 || len(sl.got) != 2 {
			t.Fatalf("%d requests, sleeps %v", st.requests.Load(), sl.got)
		}
		// 0.5 s then 1 s, each minus up to 25 % jitter.
		if sl.got[0] < 375*time.Millisecond || sl.got[0] > 500*time.Millisecond ||
			sl.got[1] < 750*time.Millisecond || sl.got[1] > time.Second {
			t.Fatalf("backoff %v", sl.got)
		}
	})
	t.Run("MaxRetries", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, fail500)
		c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
		_, err := c.ListPhoneNumbers(context.Background())
		if err == nil || st.requests.Load() != 1+DefaultMaxRetries {
			t.Fatalf("%d requests, %v", st.requests.Load(), err)
		}
		if NotSent(err) {
			t.Fatal("a 5xx counted as not sent")
		}
	})
	t.Run("RetryAfterHonoured", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			header, value string
			want          time.Duration
		}{
			{"Retry-After", "3", 3 * time.Second},
			{"Retry-After", "1.5", 1500 * time.Millisecond},
			{"Retry-After-Ms", "120", 120 * time.Millisecond},
		} {
			sl := &sleeps{}
			st := newStub(t, answer(429, `{"error":{"code":1007,"message":"m","doc_url":"u"}}`, tc.header, tc.value), answer(200, okSend))
			c := newTestClient(t, st.srv.URL, sl, nil)
			if _, err := c.SendMessage(context.Background(), "c", sendReq("k")); err != nil {
				t.Fatal(err)
			}
			if len(sl.got) != 1 || sl.got[0] != tc.want {
				t.Fatalf("%s: %s slept %v, want %s", tc.header, tc.value, sl.got, tc.want)
			}
		}
	})
	t.Run("RetryAfterTooLong", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(429, `{}`, "Retry-After", "3600"), answer(200, okSend))
		c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
		_, err := c.SendMessage(context.Background(), "c", sendReq("k"))
		if e, ok := AsError(err); !ok || e.RetryAfter != time.Hour || st.requests.Load() != 1 {
			t.Fatalf("%d requests, %v", st.requests.Load(), err)
		}
	})
	t.Run("ShouldRetryHeader", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(503, ``, "X-Should-Retry", "false"), answer(200, okSend))
		c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
		if _, err := c.ListPhoneNumbers(context.Background()); err == nil || st.requests.Load() != 1 {
			t.Fatalf("x-should-retry false ignored: %d requests", st.requests.Load())
		}
	})
	t.Run("NoRetryOn4xx", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(409, `{"error":{"code":1004,"message":"c","doc_url":"u"}}`), answer(200, okSend))
		c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
		if _, err := c.SendMessage(context.Background(), "c", sendReq("k")); err == nil || st.requests.Load() != 1 {
			t.Fatalf("409 retried: %d requests", st.requests.Load())
		}
	})
	t.Run("DeadlineBoundsWaits", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, fail500)
		c, err := New(Config{BaseURL: st.srv.URL, APIKey: "k", MaxRetries: 5, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.SendMessage(ctx, "c", sendReq("k"))
		// Attempt 1, wait ≤0.5 s, attempt 2; the next wait (≥0.75 s) would
		// pass the deadline, so the call ends with the last answer.
		if e, ok := AsError(err); !ok || e.Status != 500 {
			t.Fatalf("err %v", err)
		}
		if n := st.requests.Load(); n != 2 {
			t.Fatalf("%d requests", n)
		}
		if el := time.Since(start); el >= 700*time.Millisecond {
			t.Fatalf("returned after %s, past the deadline", el)
		}
	})
	t.Run("ConnectionErrors", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(200, okSend))
		url := st.srv.URL
		st.srv.Close()
		sl := &sleeps{}
		c := newTestClient(t, url, sl, nil)
		_, err := c.ListPhoneNumbers(context.Background())
		if err == nil || NotSent(err) || len(sl.got) != DefaultMaxRetries {
			t.Fatalf("read over a dead connection: %v, sleeps %v", err, sl.got)
		}
		sl.got = nil
		if _, err := c.SendMessage(context.Background(), "c", sendReq("")); err == nil || NotSent(err) || len(sl.got) != 0 {
			t.Fatalf("send without key: %v, sleeps %v", err, sl.got)
		}
	})
	t.Run("UncertainAfter5xx", func(t *testing.T) {
		t.Parallel()
		// A 5xx may have hidden a send; a 4xx on the retry then does not
		// prove nothing went out.
		st := newStub(t, fail500, answer(429, `{"error":{"code":1007,"message":"m","doc_url":"u"}}`, "Retry-After", "9999"))
		c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
		_, err := c.SendMessage(context.Background(), "c", sendReq("k"))
		if !IsPairLimit(err) || NotSent(err) {
			t.Fatalf("err %v, NotSent %v", err, NotSent(err))
		}
	})
	t.Run("TimeoutMayHaveSent", func(t *testing.T) {
		t.Parallel()
		// Linq's 408 may come after it acted on the request: neither it
		// nor a 4xx on its retry proves nothing went out.
		timeout := answer(408, `{"error":{"code":0,"message":"timeout","doc_url":"u"}}`)
		for _, answers := range [][]func(http.ResponseWriter){
			{timeout, timeout, timeout},
			{timeout, answer(400, `{"error":{"code":0,"message":"bad","doc_url":"u"}}`)},
		} {
			st := newStub(t, answers...)
			c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
			_, err := c.SendMessage(context.Background(), "c", sendReq("k"))
			if _, ok := AsError(err); !ok || NotSent(err) {
				t.Fatalf("err %v, NotSent %v", err, NotSent(err))
			}
		}
	})
	t.Run("CanceledBeforeStart", func(t *testing.T) {
		t.Parallel()
		st := newStub(t, answer(200, okSend))
		c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.SendMessage(ctx, "c", sendReq(""))
		if !NotSent(err) || !errors.Is(err, context.Canceled) || st.requests.Load() != 0 {
			t.Fatalf("err %v", err)
		}
	})
}

func TestNeverLogsKeyOrText(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	st := newStub(t, answer(500, `{"error":{"code":1000,"message":"boom","doc_url":"u"},"trace_id":"t-9"}`), answer(200, okSend))
	c := newTestClient(t, st.srv.URL, &sleeps{}, w)
	if _, err := c.SendMessage(context.Background(), "c", sendReq("k")); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "linq request retry") || !strings.Contains(out, "t-9") {
		t.Fatalf("retry not logged: %q", out)
	}
	if strings.Contains(out, secretKey) || strings.Contains(out, "secret words") {
		t.Fatalf("log leaks the key or message text: %q", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestTraceID(t *testing.T) {
	t.Parallel()
	st := newStub(t,
		answer(200, `{"message":"ok","status":"success","trace_id":"body-trace"}`, "X-Trace-Id", "hdr"),
		answer(200, okSend, "X-Trace-Id", "hdr-send"),
		answer(204, ``, "X-Trace-Id", "hdr-typing"),
		answer(200, okSend))
	c := newTestClient(t, st.srv.URL, &sleeps{}, nil)
	ctx := context.Background()
	r, err := c.React(ctx, "m", ReactRequest{Operation: "add", Type: "love"})
	if err != nil || r.TraceID != "body-trace" {
		t.Fatalf("react trace %q %v", r.TraceID, err)
	}
	s, err := c.SendMessage(ctx, "c", sendReq(""))
	if err != nil || s.TraceID != "hdr-send" {
		t.Fatalf("send trace %q %v", s.TraceID, err)
	}
	a, err := c.StartTyping(ctx, "c")
	if err != nil || a.TraceID != "hdr-typing" || a.StatusCode != 204 {
		t.Fatalf("typing ack %+v %v", a, err)
	}
	s, err = c.SendMessage(ctx, "c", sendReq(""))
	if err != nil || s.TraceID != "" {
		t.Fatalf("absent trace %q %v", s.TraceID, err)
	}
}
