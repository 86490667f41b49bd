package linqsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
)

func TestRequestFaults(t *testing.T) {
	t.Parallel()
	t.Run("ErrorAfterProcessing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		chat := b.createChat(t, b.lines[0], "+15559990001")
		b.sim.SetFaults(linqsim.Faults{ErrorRate: 1})
		_, err := b.client.SendMessage(context.Background(), chat.Chat.ID, linq.SendMessageRequest{Message: text("x")})
		e, ok := linq.AsError(err)
		if !ok || e.Status != http.StatusInternalServerError || linq.NotSent(err) {
			t.Fatalf("send under error fault = %v, want 500 with unknown outcome", err)
		}
		if n := len(b.sim.SendLog()); n != 2 {
			t.Fatalf("send log has %d sends; the faulted send should have gone out", n)
		}
	})
	t.Run("FailNextCountsDown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.sim.SetFaults(linqsim.Faults{FailNext: 2})
		for i := range 2 {
			if _, err := b.client.ListPhoneNumbers(context.Background()); err == nil {
				t.Fatalf("request %d passed", i)
			}
		}
		if _, err := b.client.ListPhoneNumbers(context.Background()); err != nil {
			t.Fatalf("third request: %v", err)
		}
		if f := b.sim.Faults(); f != (linqsim.Faults{}) {
			t.Fatalf("faults left %+v", f)
		}
	})
	t.Run("TimeoutAfterProcessing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		chat := b.createChat(t, b.lines[0], "+15559990002")
		b.sim.SetFaults(linqsim.Faults{TimeoutRate: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("x")})
		if err == nil || linq.NotSent(err) {
			t.Fatalf("send under timeout fault = %v", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("timeout took %s", el)
		}
		if n := len(b.sim.SendLog()); n != 2 {
			t.Fatalf("send log has %d sends", n)
		}
	})
	t.Run("Latency", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.sim.SetFaults(linqsim.Faults{Latency: 50 * time.Millisecond})
		start := time.Now()
		if _, err := b.client.ListPhoneNumbers(context.Background()); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 50*time.Millisecond {
			t.Fatalf("answer after %s", el)
		}
	})
	t.Run("LatencyEndsWhenTheClientGivesUp", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		chat := b.createChat(t, b.lines[0], "+15559990003")
		b.sim.SetFaults(linqsim.Faults{Latency: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("x")}); err == nil {
			t.Fatal("send under a minute of latency answered")
		}
		// The request never reached Linq: it ends with its client, and
		// the server closes without waiting out the latency.
		closed := make(chan struct{})
		go func() { b.srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("the request still runs after its client gave up")
		}
		if n := len(b.sim.SendLog()); n != 1 {
			t.Fatalf("send log has %d sends, want only the chat's first message", n)
		}
	})
}

// TestNeverPanics throws random and mutated bodies at every endpoint: the
// simulator must answer each with a 2xx or a Linq-shaped 4xx, never a 5xx.
func TestNeverPanics(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	chat := b.createChat(t, b.lines[0], "+15559991001")
	mid := chat.Chat.Message.ID
	endpoints := [][2]string{
		{"POST", "/v3/chats"}, {"GET", "/v3/chats"}, {"GET", "/v3/chats/" + chat.Chat.ID},
		{"POST", "/v3/chats/" + chat.Chat.ID + "/messages"}, {"GET", "/v3/chats/" + chat.Chat.ID + "/messages"},
		{"POST", "/v3/chats/" + chat.Chat.ID + "/typing"}, {"POST", "/v3/chats/" + chat.Chat.ID + "/read"},
		{"POST", "/v3/chats/" + chat.Chat.ID + "/share_contact_card"}, {"POST", "/v3/messages"},
		{"GET", "/v3/messages/" + mid}, {"PATCH", "/v3/messages/" + mid}, {"POST", "/v3/messages/" + mid + "/reactions"},
		{"POST", "/v3/capability/check_imessage"}, {"POST", "/v3/capability/check_rcs"},
		{"GET", "/v3/contact_card"}, {"POST", "/v3/contact_card"}, {"PATCH", "/v3/contact_card?phone_number=" + b.lines[0]},
		{"POST", "/v3/webhook-subscriptions"}, {"PUT", "/v3/webhook-subscriptions/x"}, {"GET", "/v3/phone_numbers"},
		{"POST", "/_sim/lines"}, {"POST", "/_sim/inbound"}, {"PUT", "/_sim/faults"}, {"POST", "/_sim/blocked"},
		{"PUT", "/_sim/lines/" + b.lines[2] + "/reputation"},
	}
	seeds := []string{
		`{"from":"` + b.lines[0] + `","to":["+15559991002"],"message":{"parts":[{"type":"text","value":"hi"}]}}`,
		`{"message":{"parts":[{"type":"media","url":"https://a.io/x.png"}],"effect":{"name":"slam"},"reply_to":{"message_id":"` + mid + `","part_index":3}}}`,
		`{"operation":"add","type":"love","part_index":7}`, `{"text":"x","part_index":-1}`,
		`{"address":"+15559991003","from":"` + b.lines[1] + `"}`, `{"to":["a@b.co"],"message":{"parts":[{"type":"link","value":"https://x.io"}]},"exclude_from":["` + b.lines[0] + `"]}`,
		`{"target_url":"https://127.0.0.1/x","subscribed_events":["message.sent"],"phone_numbers":null}`,
		`{"phone_number":"` + b.lines[2] + `","first_name":"A"}`, `{"error_rate":0,"latency_ms":0}`,
		`{"from":"+15559991004","to":"` + b.lines[0] + `","text":"STOP"}`, `{"reputation":"AT_RISK"}`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mutate := func(s string) string {
		bs := []byte(s)
		for range 1 + rng.IntN(4) {
			if len(bs) == 0 {
				break
			}
			i := rng.IntN(len(bs))
			switch rng.IntN(4) {
			case 0:
				bs[i] = byte(rng.IntN(256))
			case 1:
				bs = append(bs[:i], bs[i+1:]...)
			case 2:
				bs = append(bs[:i], append([]byte(`[]{}":,0-nulltrue`[rng.IntN(16):][:1]), bs[i:]...)...)
			case 3:
				bs = bs[:i]
			}
		}
		return string(bs)
	}
	for i := range 3000 {
		ep := endpoints[rng.IntN(len(endpoints))]
		body := mutate(seeds[rng.IntN(len(seeds))])
		if i%5 == 0 {
			body = seeds[rng.IntN(len(seeds))]
		}
		req, _ := http.NewRequest(ep[0], b.srv.URL+ep[1], strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		raw := new(bytes.Buffer)
		_, _ = raw.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q = %d %s", ep[0], ep[1], body, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 {
			if json.Unmarshal(raw.Bytes(), &env) != nil || env.Error == nil || env.Error.Code == 0 || env.Error.Message == "" {
				t.Fatalf("%s %s %q = %d with body %s", ep[0], ep[1], body, resp.StatusCode, raw)
			}
		}
		b.sim.SetFaults(linqsim.Faults{}) // a fuzzed PUT /_sim/faults must not leak into the next request
		_ = b.sim.UnflagLine(b.lines[0])
	}
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	b := setup(t, setupOpts{webhookURL: rc.srv.URL})
	var line linqsim.LineInfo
	if st, _ := b.call(t, "POST", "/_sim/lines", map[string]string{"phone_number": "+15559992000"}, &line); st != http.StatusCreated ||
		line.PhoneNumber != "+15559992000" || line.Status != "ACTIVE" || line.ID == "" {
		t.Fatalf("add line %d %+v", st, line)
	}
	var gen linqsim.LineInfo
	if st, _ := b.call(t, "POST", "/_sim/lines", nil, &gen); st != http.StatusCreated || gen.PhoneNumber == "" {
		t.Fatalf("generated line %d %+v", st, gen)
	}
	if st, _ := b.call(t, "POST", "/_sim/lines/+15559992000/flag", nil, &line); st != 200 || line.Status != "FLAGGED" {
		t.Fatalf("flag %d %+v", st, line)
	}
	if st, _ := b.call(t, "POST", "/_sim/lines/%2B15559992000/unflag", nil, &line); st != 200 || line.Status != "ACTIVE" {
		t.Fatalf("unflag %d %+v", st, line)
	}
	if st, _ := b.call(t, "PUT", "/_sim/lines/+15559992000/reputation", map[string]string{"reputation": "CRITICAL"}, &line); st != 200 || line.Reputation != "CRITICAL" {
		t.Fatalf("reputation %d %+v", st, line)
	}
	if st, _ := b.call(t, "POST", "/_sim/lines/+15550000000/flag", nil, nil); st != http.StatusNotFound {
		t.Fatalf("flag unknown line = %d", st)
	}
	var lines struct{ Lines []linqsim.LineInfo }
	b.call(t, "GET", "/_sim/lines", nil, &lines)
	if len(lines.Lines) != 5 {
		t.Fatalf("%d lines", len(lines.Lines))
	}

	var in struct {
		MessageID string `json:"message_id"`
		ChatID    string `json:"chat_id"`
	}
	if st, _ := b.call(t, "POST", "/_sim/inbound", map[string]string{"from": "+15559992001", "to": "+15559992000", "text": "STOP"}, &in); st != http.StatusCreated || in.MessageID == "" {
		t.Fatalf("inbound %d %+v", st, in)
	}
	if !b.sim.OptedOut("+15559992001") {
		t.Fatal("STOP via admin API did not opt out")
	}
	b.call(t, "POST", "/_sim/blocked", map[string]string{"handle": "+15559992002"}, nil)
	_, err := b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[0], To: []string{"+15559992002"}, Message: text("x")})
	if !linq.IsBlocked(err) {
		t.Fatalf("blocked via admin = %v", err)
	}
	b.call(t, "DELETE", "/_sim/blocked/+15559992002", nil, nil)
	b.createChat(t, b.lines[0], "+15559992002")

	var f map[string]any
	b.call(t, "PUT", "/_sim/faults", map[string]any{"latency_ms": 5, "duplicate_webhooks": 0.5, "fail_next": 1}, &f)
	if got := b.sim.Faults(); got.Latency != 5*time.Millisecond || got.DuplicateWebhooks != 0.5 || got.FailNext != 1 {
		t.Fatalf("faults %+v", got)
	}
	b.call(t, "PUT", "/_sim/faults", map[string]any{}, nil)

	var sends struct{ Sends []linqsim.SendRecord }
	b.call(t, "GET", "/_sim/sends?to=%2B15559992002", nil, &sends)
	if len(sends.Sends) != 1 || sends.Sends[0].From != b.lines[0] || sends.Sends[0].MessageID == "" || sends.Sends[0].At.IsZero() {
		t.Fatalf("sends %+v", sends)
	}
	var stats struct {
		Sends    int
		Count429 int `json:"count_429"`
		Webhooks linqsim.WebhookStats
	}
	b.call(t, "GET", "/_sim/stats", nil, &stats)
	if stats.Sends != 1 || stats.Webhooks.Events == 0 {
		t.Fatalf("stats %+v", stats)
	}
	var secret struct {
		WebhookSecret string `json:"webhook_secret"`
	}
	b.call(t, "GET", "/_sim/webhook-secret", nil, &secret)
	if secret.WebhookSecret != b.sim.WebhookSecret() || !strings.HasPrefix(secret.WebhookSecret, "whsec_") {
		t.Fatalf("secret %q", secret.WebhookSecret)
	}
	if st, _ := b.call(t, "GET", "/_sim/nothing", nil, nil); st != http.StatusNotFound {
		t.Fatalf("unknown admin path = %d", st)
	}
}
