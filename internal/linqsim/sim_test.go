package linqsim_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
)

func TestChatKeyedByFromAndRecipientSet(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	a, c := "+15557770001", "+15557770002"
	first := b.createChat(t, b.lines[0], a, c)
	again := b.createChat(t, b.lines[0], c, a, a)
	if again.Chat.ID != first.Chat.ID {
		t.Fatalf("same from and recipient set gave chats %s and %s", first.Chat.ID, again.Chat.ID)
	}
	if !first.Chat.IsGroup || len(first.Chat.Handles) != 3 {
		t.Fatalf("group chat = %+v", first.Chat)
	}
	if other := b.createChat(t, b.lines[1], a, c); other.Chat.ID == first.Chat.ID {
		t.Fatal("another line reused the chat")
	}
	if sub := b.createChat(t, b.lines[0], a); sub.Chat.ID == first.Chat.ID || sub.Chat.IsGroup {
		t.Fatal("a subset of the recipients reused the group chat")
	}
	msgs, err := b.client.ListMessages(context.Background(), first.Chat.ID, linq.ListMessagesParams{})
	if err != nil || len(msgs.Messages) != 2 {
		t.Fatalf("messages in reused chat = %d, %v; want 2", len(msgs.Messages), err)
	}
	var me int
	for _, h := range first.Chat.Handles {
		if h.IsMe != nil && *h.IsMe {
			me++
			if h.Handle != b.lines[0] {
				t.Fatalf("is_me handle = %s", h.Handle)
			}
		}
	}
	if me != 1 {
		t.Fatalf("%d handles with is_me", me)
	}
}

func TestPairLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{fakeClock: true})
	ctx := context.Background()
	from, to := b.lines[0], "+15557771001"
	chat := b.createChat(t, from, to)
	for i := 1; i < linqsim.PairLimit; i++ {
		b.clock.Advance(time.Second)
		if _, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("m")}); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	// 30 sends in the last 29 s; the 31st is refused.
	b.clock.Advance(500 * time.Millisecond)
	var env errEnvelope
	status, hdr := b.call(t, "POST", "/v3/chats/"+chat.Chat.ID+"/messages",
		map[string]any{"message": map[string]any{"parts": []any{map[string]string{"type": "text", "value": "x"}}}}, &env)
	if status != http.StatusTooManyRequests || env.Error.Code != 1007 {
		t.Fatalf("31st send = %d/%d, want 429/1007", status, env.Error.Code)
	}
	// The oldest send is 29.5 s old: it leaves the window after 30.5 s more.
	if hdr.Get("Retry-After") != "31" || env.Error.RetryAfter == nil || *env.Error.RetryAfter != 31 {
		t.Fatalf("Retry-After = %q, retry_after = %v; want 31", hdr.Get("Retry-After"), env.Error.RetryAfter)
	}
	_, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("m")})
	if !linq.IsPairLimit(err) || !linq.NotSent(err) {
		t.Fatalf("client error = %v, want pair limit, not sent", err)
	}
	if e, _ := linq.AsError(err); e.RetryAfter != 31*time.Second {
		t.Fatalf("RetryAfter = %s", e.RetryAfter)
	}
	// Other recipients and other lines are unaffected.
	if _, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: from, To: []string{"+15557771002"}, Message: text("hi")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[1], To: []string{to}, Message: text("hi")}); err != nil {
		t.Fatal(err)
	}
	// A group including the limited recipient is refused as a whole.
	_, err = b.client.CreateChat(ctx, linq.CreateChatRequest{From: from, To: []string{to, "+15557771003"}, Message: text("hi")})
	if !linq.IsPairLimit(err) {
		t.Fatalf("group send = %v, want pair limit", err)
	}
	// Exactly 60 s after the oldest send it still counts (closed window)...
	b.clock.Advance(30500 * time.Millisecond)
	if _, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("m")}); !linq.IsPairLimit(err) {
		t.Fatalf("send at exactly 60 s = %v, want pair limit", err)
	}
	// ...and after Retry-After it has left.
	b.clock.Advance(500 * time.Millisecond)
	if _, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("m")}); err != nil {
		t.Fatalf("send after the window: %v", err)
	}
	if got := b.sim.Count429(); got != 4 {
		t.Fatalf("Count429 = %d, want 4", got)
	}
	// Never more than 30 accepted sends per pair in any 60 s.
	var times []time.Time
	for _, r := range b.sim.SendLog() {
		if r.From == from && len(r.To) == 1 && r.To[0] == to {
			times = append(times, r.At)
		}
	}
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) <= time.Minute; j++ {
			n++
		}
		if n > linqsim.PairLimit {
			t.Fatalf("%d sends within 60 s from %s", n, times[i])
		}
	}
}

func TestPairLimitConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	chat := b.createChat(t, b.lines[0], "+15557772001")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 1, 0
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.client.SendMessage(context.Background(), chat.Chat.ID, linq.SendMessageRequest{Message: text("m")})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case linq.IsPairLimit(err):
				limited++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != linqsim.PairLimit || limited != 31 {
		t.Fatalf("accepted %d, limited %d; want 30 and 31", ok, limited)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	chat := b.createChat(t, b.lines[0], "+15557773001")
	msg := text("once")
	msg.IdempotencyKey = "key-1"
	first, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	if first.Message.ID != second.Message.ID {
		t.Fatalf("repeat gave message %s, want %s", second.Message.ID, first.Message.ID)
	}
	// The key is partner-wide: reused on another chat it returns the original.
	other := b.createChat(t, b.lines[1], "+15557773002")
	third, err := b.client.SendMessage(ctx, other.Chat.ID, linq.SendMessageRequest{Message: msg})
	if err != nil || third.Message.ID != first.Message.ID || third.ChatID != chat.Chat.ID {
		t.Fatalf("key on another chat = %+v, %v", third, err)
	}
	// Concurrent first sends with one key make one message.
	var wg sync.WaitGroup
	ids := make([]string, 20)
	conc := text("race")
	conc.IdempotencyKey = "key-race"
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: conc})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = res.Message.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent sends gave messages %v", ids)
		}
	}
	count := map[string]int{}
	for _, r := range b.sim.SendLog() {
		count[r.IdempotencyKey]++
	}
	if count["key-1"] != 1 || count["key-race"] != 1 {
		t.Fatalf("send log counts %v, want one per key", count)
	}
	// A key whose message was deleted answers 404 and sends nothing.
	if _, err := b.client.DeleteMessage(ctx, first.Message.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg}); !linq.IsNotFound(err) {
		t.Fatalf("reused key of deleted message = %v, want 404", err)
	}
	// A refused send does not burn its key.
	if err := b.sim.FlagLine(b.lines[2]); err != nil {
		t.Fatal(err)
	}
	flaggedMsg := text("later")
	flaggedMsg.IdempotencyKey = "key-flagged"
	req := linq.CreateChatRequest{From: b.lines[2], To: []string{"+15557773003"}, Message: flaggedMsg}
	if _, err := b.client.CreateChat(ctx, req); !linq.IsLineIneligible(err) {
		t.Fatalf("flagged create = %v", err)
	}
	_ = b.sim.UnflagLine(b.lines[2])
	if _, err := b.client.CreateChat(ctx, req); err != nil {
		t.Fatalf("retry after refusal: %v", err)
	}
}

func TestOptOut(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	handle := "+15557774001"
	chat := b.createChat(t, b.lines[0], handle)
	send := func(override bool) error {
		_, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("hi"), OverrideOptout: override})
		return err
	}
	health := func() string {
		c, err := b.client.GetChat(ctx, chat.Chat.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.HealthStatus.Status
	}
	for _, tc := range []struct {
		inbound  string
		optedOut bool
	}{
		{"STOP", true},
		{"thanks!", false},
		{"  opt-Out ", true},
		{"stop", false}, // keywords are exact case
		{"UNSUBSCRIBE", true},
		{"please stop", false},
		{"OPT   OUT", true},
		{"ok", false},
	} {
		if _, err := b.sim.InjectInbound(handle, b.lines[0], tc.inbound); err != nil {
			t.Fatal(err)
		}
		err := send(false)
		if tc.optedOut {
			if !linq.IsOptedOut(err) || !linq.NotSent(err) {
				t.Fatalf("after %q: send = %v, want 403/2024", tc.inbound, err)
			}
			if h := health(); h != linq.HealthOptedOut {
				t.Fatalf("after %q: health %s", tc.inbound, h)
			}
			// Applies on every line and chat, and override_optout bypasses it.
			_, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[1], To: []string{handle}, Message: text("x")})
			if !linq.IsOptedOut(err) {
				t.Fatalf("other line: %v", err)
			}
			if err := send(true); err != nil {
				t.Fatalf("override_optout: %v", err)
			}
		} else {
			if err != nil {
				t.Fatalf("after %q: send = %v", tc.inbound, err)
			}
			if h := health(); h != linq.ReputationHealthy {
				t.Fatalf("after %q: health %s", tc.inbound, h)
			}
		}
	}
}

func TestBlocked(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.sim.Block("+15557775001")
	_, err := b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[0], To: []string{"+15557775001"}, Message: text("x")})
	if !linq.IsBlocked(err) {
		t.Fatalf("send to blocked = %v", err)
	}
	b.sim.Unblock("+15557775001")
	b.createChat(t, b.lines[0], "+15557775001")
}

func TestFlaggedLine(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	line := b.lines[0]
	chat := b.createChat(t, line, "+15557776001")
	if _, err := b.client.CreateContactCard(ctx, linq.CreateContactCardRequest{PhoneNumber: line, FirstName: "Ada"}); err != nil {
		t.Fatal(err)
	}
	msgID := chat.Chat.Message.ID
	if err := b.sim.FlagLine(line); err != nil {
		t.Fatal(err)
	}
	activity := map[string]func() error{
		"create chat": func() error {
			_, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: line, To: []string{"+15557776002"}, Message: text("x")})
			return err
		},
		"send": func() error {
			_, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("x")})
			return err
		},
		"react": func() error {
			_, err := b.client.React(ctx, msgID, linq.ReactRequest{Operation: "add", Type: "love"})
			return err
		},
		"edit": func() error {
			_, err := b.client.EditMessage(ctx, msgID, linq.EditMessageRequest{Text: "y"})
			return err
		},
		"typing start": func() error { _, err := b.client.StartTyping(ctx, chat.Chat.ID); return err },
		"typing stop":  func() error { _, err := b.client.StopTyping(ctx, chat.Chat.ID); return err },
		"share card":   func() error { _, err := b.client.ShareContactCard(ctx, chat.Chat.ID); return err },
		"mark read":    func() error { _, err := b.client.MarkRead(ctx, chat.Chat.ID); return err },
		"capability": func() error {
			_, err := b.client.CheckIMessage(ctx, linq.CapabilityCheckRequest{Address: "+15557776003", From: line})
			return err
		},
	}
	for name, f := range activity {
		if err := f(); !linq.IsLineIneligible(err) || !linq.NotSent(err) {
			t.Fatalf("%s on flagged line = %v, want 403/2027", name, err)
		}
	}
	// Reads still work.
	if _, err := b.client.GetChat(ctx, chat.Chat.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.GetMessage(ctx, msgID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.ListMessages(ctx, chat.Chat.ID, linq.ListMessagesParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.ListChats(ctx, linq.ListChatsParams{From: line}); err != nil {
		t.Fatal(err)
	}
	// Inbound still arrives.
	if _, err := b.sim.InjectInbound("+15557776001", line, "hello?"); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.UnflagLine(line); err != nil {
		t.Fatal(err)
	}
	for name, f := range activity {
		if name == "create chat" || name == "edit" {
			continue
		}
		if err := f(); err != nil {
			t.Fatalf("%s after unflag: %v", name, err)
		}
	}
	if got := len(b.sim.SendLog()); got != 2 {
		t.Fatalf("send log has %d sends, want 2", got)
	}
}

func TestFirstMessageRule(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	existing := b.createChat(t, b.lines[0], "+15557777000")
	idx := 0
	cases := map[string]linq.MessageContent{
		"link part":      {Parts: []linq.Part{linq.LinkPart("https://example.com/a")}},
		"scheme URL":     text("see https://example.com"),
		"bare domain":    text("go to example.com/signup"),
		"www host":       text("www.example.org"),
		"reply_to":       {Parts: []linq.Part{linq.TextPart("re")}, ReplyTo: &linq.ReplyTo{MessageID: existing.Chat.Message.ID, PartIndex: &idx}},
		"screen effect":  {Parts: []linq.Part{linq.TextPart("yay")}, Effect: &linq.Effect{Type: "screen", Name: "confetti"}},
		"bubble effect":  {Parts: []linq.Part{linq.TextPart("yay")}, Effect: &linq.Effect{Type: "bubble", Name: "slam"}},
		"media then URL": {Parts: []linq.Part{linq.MediaURLPart("https://cdn.example.com/a.png"), linq.TextPart("http://x.io")}},
	}
	n := 0
	for name, msg := range cases {
		n++
		to := fmt.Sprintf("+1555777710%d", n)
		_, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[0], To: []string{to}, Message: msg})
		if !linq.IsFirstMessageRule(err) || !linq.NotSent(err) {
			t.Fatalf("%s: %v, want 400/1005", name, err)
		}
		// The same message into an existing chat is fine.
		if name == "reply_to" {
			continue // reply_to must point into the chat it is sent to
		}
		if _, err := b.client.SendMessage(ctx, existing.Chat.ID, linq.SendMessageRequest{Message: msg}); err != nil {
			t.Fatalf("%s into existing chat: %v", name, err)
		}
		// Repeating the create for an existing chat is not a first message.
		if _, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[0], To: []string{"+15557777000"}, Message: msg}); err != nil {
			t.Fatalf("%s via create on existing chat: %v", name, err)
		}
	}
	if _, err := b.client.SendMessage(ctx, existing.Chat.ID, linq.SendMessageRequest{Message: cases["reply_to"]}); err != nil {
		t.Fatalf("reply_to into its chat: %v", err)
	}
	// Text without a URL opens a chat.
	b.createChat(t, b.lines[0], "+15557777200")
	// POST /v3/messages may open a chat with a link, not with an effect.
	if _, err := b.client.CreateMessage(ctx, linq.CreateMessageRequest{To: []string{"+15557777201"}, Message: cases["link part"]}); err != nil {
		t.Fatalf("link via POST /v3/messages: %v", err)
	}
	_, err := b.client.CreateMessage(ctx, linq.CreateMessageRequest{To: []string{"+15557777202"}, Message: cases["screen effect"]})
	if !linq.IsFirstMessageRule(err) {
		t.Fatalf("effect via POST /v3/messages: %v", err)
	}
}

func TestReputationOnPhoneNumbers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	if err := b.sim.SetReputation(b.lines[1], linqsim.RepAtRisk); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetReputation(b.lines[1], "BAD"); err == nil {
		t.Fatal("bad reputation accepted")
	}
	if err := b.sim.FlagLine(b.lines[2]); err != nil {
		t.Fatal(err)
	}
	res, err := b.client.ListPhoneNumbers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.PhoneNumbers) != 3 {
		t.Fatalf("%d lines", len(res.PhoneNumbers))
	}
	for _, p := range res.PhoneNumbers {
		want := linq.ReputationHealthy
		if p.PhoneNumber == b.lines[1] {
			want = linq.ReputationAtRisk
		}
		if p.Reputation.Status != want || p.HealthStatus == nil || p.HealthStatus.Status != want ||
			p.Reputation.DocURL == "" || p.ID == "" || p.ReputationStatus() != want {
			t.Fatalf("line %+v, want reputation %s", p, want)
		}
	}
	// The raw body has no service status (Linq shows it only in webhooks).
	var raw map[string][]map[string]any
	b.call(t, "GET", "/v3/phone_numbers", nil, &raw)
	for _, p := range raw["phone_numbers"] {
		if _, ok := p["status"]; ok {
			t.Fatalf("phone number exposes status: %v", p)
		}
		if v, ok := p["forwarding_number"]; !ok || v != nil {
			t.Fatalf("forwarding_number = %v, %v; want null", v, ok)
		}
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	chat := b.createChat(t, b.lines[0], "+15557778001")
	body := map[string]any{"to": []string{"+15557778002"}, "message": map[string]any{"parts": []any{map[string]string{"type": "text", "value": "x"}}}}
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/v3/messages", body, http.StatusAccepted},
		{"POST", "/v3/chats/" + chat.Chat.ID + "/typing", nil, http.StatusNoContent},
		{"DELETE", "/v3/chats/" + chat.Chat.ID + "/typing", nil, http.StatusNoContent},
		{"POST", "/api/partner/v3/chats/" + chat.Chat.ID + "/typing", nil, http.StatusNoContent},
		{"GET", "/v3/chats/" + chat.Chat.ID, nil, http.StatusOK},
		{"GET", "/v3/chats/nope", nil, http.StatusNotFound},
		{"GET", "/v3/messages/nope", nil, http.StatusNotFound},
		{"GET", "/v3/nowhere", nil, http.StatusNotFound},
		{"GET", "/v3/webhook-events", nil, http.StatusOK},
		{"GET", "/v3/phonenumbers", nil, http.StatusOK},
	} {
		if got, _ := b.call(t, tc.method, tc.path, tc.body, nil); got != tc.want {
			t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	for _, auth := range []string{"", "Bearer ", "Bearer wrong", "Basic " + testKey, testKey} {
		req, _ := http.NewRequest("GET", b.srv.URL+"/v3/phone_numbers", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Authorization %q = %d, want 401", auth, resp.StatusCode)
		}
	}
	// An empty APIKey accepts any bearer token.
	open := linqsim.New(linqsim.Config{LineCount: 1})
	defer open.Close()
	req, _ := http.NewRequest("GET", "/v3/phone_numbers", nil)
	req.Header.Set("Authorization", "Bearer anything")
	rec := newRecorder()
	open.Handler().ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		t.Fatalf("open sim = %d", rec.status)
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	chat := b.createChat(t, b.lines[0], "+15557779001")
	from := b.lines[0]
	textPart := map[string]string{"type": "text", "value": "x"}
	msg := map[string]any{"parts": []any{textPart}}
	cases := []struct {
		name, method, path string
		body               any
	}{
		{"not JSON", "POST", "/v3/chats", "{"},
		{"empty body", "POST", "/v3/chats", nil},
		{"two values", "POST", "/v3/chats", `{"from":"` + from + `"} {}`},
		{"wrong type", "POST", "/v3/chats", `{"from":5}`},
		{"missing from", "POST", "/v3/chats", map[string]any{"to": []string{"+15550000001"}, "message": msg}},
		{"bad from", "POST", "/v3/chats", map[string]any{"from": "555", "to": []string{"+15550000001"}, "message": msg}},
		{"foreign from", "POST", "/v3/chats", map[string]any{"from": "+15550009999", "to": []string{"+15550000001"}, "message": msg}},
		{"missing to", "POST", "/v3/chats", map[string]any{"from": from, "message": msg}},
		{"bad to", "POST", "/v3/chats", map[string]any{"from": from, "to": []string{"bob"}, "message": msg}},
		{"to self", "POST", "/v3/chats", map[string]any{"from": from, "to": []string{from}, "message": msg}},
		{"missing message", "POST", "/v3/chats", map[string]any{"from": from, "to": []string{"+15550000001"}}},
		{"no parts", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{}}}},
		{"part without type", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{map[string]string{"value": "x"}}}}},
		{"unknown part type", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{map[string]string{"type": "gif", "value": "x"}}}}},
		{"two texts in a row", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{textPart, textPart}}}},
		{"link not alone", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{textPart, map[string]string{"type": "link", "value": "https://a.io"}}}}},
		{"media both sources", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{map[string]string{"type": "media", "url": "https://a.io/x.png", "attachment_id": "x"}}}}},
		{"media http", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{map[string]string{"type": "media", "url": "http://a.io/x.png"}}}}},
		{"bad effect", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{textPart}, "effect": map[string]string{"type": "screen", "name": "slam"}}}},
		{"bad service", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{textPart}, "preferred_service": "fax"}}},
		{"reply elsewhere", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"parts": []any{textPart}, "reply_to": map[string]string{"message_id": "nope"}}}},
		{"experience", "POST", "/v3/chats/" + chat.Chat.ID + "/messages", map[string]any{"message": map[string]any{"experience": map[string]string{"name": "link"}}}},
		{"bad limit", "GET", "/v3/chats?limit=101", nil},
		{"bad cursor", "GET", "/v3/chats?cursor=%%%", nil},
		{"bad reaction", "POST", "/v3/messages/" + chat.Chat.Message.ID + "/reactions", map[string]string{"operation": "add", "type": "wow"}},
		{"bad operation", "POST", "/v3/messages/" + chat.Chat.Message.ID + "/reactions", map[string]string{"operation": "toggle", "type": "love"}},
		{"custom without emoji", "POST", "/v3/messages/" + chat.Chat.Message.ID + "/reactions", map[string]string{"operation": "add", "type": "custom"}},
		{"edit without text", "PATCH", "/v3/messages/" + chat.Chat.Message.ID, map[string]string{}},
		{"rcs email", "POST", "/v3/capability/check_rcs", map[string]string{"address": "a@b.co"}},
		{"imessage garbage", "POST", "/v3/capability/check_imessage", map[string]string{"address": "??"}},
		{"exclude_from bad", "POST", "/v3/messages", map[string]any{"to": []string{"+15550000001"}, "message": msg, "exclude_from": []string{"x"}}},
		{"idempotency disagree", "POST", "/v3/messages", map[string]any{"to": []string{"+15550000001"}, "message": map[string]any{"parts": []any{textPart}, "idempotency_key": "a"}}},
		{"sub http target", "POST", "/v3/webhook-subscriptions", map[string]any{"target_url": "http://example.com/h", "subscribed_events": []string{"message.sent"}}},
		{"sub unknown event", "POST", "/v3/webhook-subscriptions", map[string]any{"target_url": "https://example.com/h", "subscribed_events": []string{"message.exploded"}}},
		{"sub no events", "POST", "/v3/webhook-subscriptions", map[string]any{"target_url": "https://example.com/h"}},
		{"card without name", "POST", "/v3/contact_card", map[string]any{"phone_number": from}},
	}
	for _, tc := range cases {
		req := tc.body
		path := tc.path
		var env errEnvelope
		var status int
		if tc.name == "idempotency disagree" {
			r, _ := http.NewRequest("POST", b.srv.URL+path, stringsReader(mustJSON(t, req)))
			r.Header.Set("Authorization", "Bearer "+testKey)
			r.Header.Set("Idempotency-Key", "b")
			status = doDecode(t, r, &env)
		} else {
			status, _ = b.call(t, tc.method, path, req, &env)
		}
		if status != http.StatusBadRequest || env.Error.Code == 0 || env.Error.Message == "" || env.Error.DocURL == "" {
			t.Errorf("%s: %d %+v, want a Linq-shaped 400", tc.name, status, env.Error)
		}
	}
	if n := len(b.sim.SendLog()); n != 1 {
		t.Fatalf("malformed requests sent %d messages", n-1)
	}
}

func TestEditLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{fakeClock: true})
	ctx := context.Background()
	chat := b.createChat(t, b.lines[0], "+15557779101")
	id := chat.Chat.Message.ID
	for i := range 5 {
		m, err := b.client.EditMessage(ctx, id, linq.EditMessageRequest{Text: "v" + strconv.Itoa(i)})
		if err != nil || m.Parts[0].Value != "v"+strconv.Itoa(i) {
			t.Fatalf("edit %d: %+v %v", i, m, err)
		}
	}
	_, err := b.client.EditMessage(ctx, id, linq.EditMessageRequest{Text: "v6"})
	wantAPIError(t, err, 400, 1006)

	second, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("late")})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(16 * time.Minute)
	_, err = b.client.EditMessage(ctx, second.Message.ID, linq.EditMessageRequest{Text: "too late"})
	wantAPIError(t, err, 400, 1006)

	inID, err := b.sim.InjectInbound("+15557779101", b.lines[0], "theirs")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.client.EditMessage(ctx, inID, linq.EditMessageRequest{Text: "mine now"})
	wantAPIError(t, err, 400, 1006)
}

func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{fakeClock: true})
	ctx := context.Background()
	var chatIDs []string
	for i := range 7 {
		b.clock.Advance(time.Second)
		chatIDs = append(chatIDs, b.createChat(t, b.lines[0], fmt.Sprintf("+155577791%02d", i)).Chat.ID)
	}
	b.createChat(t, b.lines[1], "+15557779100")
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		res, err := b.client.ListChats(ctx, linq.ListChatsParams{From: b.lines[0], Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Chats {
			got = append(got, c.ID)
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(got) != 7 || got[0] != chatIDs[6] || got[6] != chatIDs[0] {
		t.Fatalf("chats newest first = %v, want reverse of %v", got, chatIDs)
	}
	res, err := b.client.ListChats(ctx, linq.ListChatsParams{To: "+15557779103"})
	if err != nil || len(res.Chats) != 1 || res.Chats[0].ID != chatIDs[3] {
		t.Fatalf("filter by to = %+v %v", res, err)
	}

	for i := range 4 {
		b.clock.Advance(time.Second)
		if _, err := b.client.SendMessage(ctx, chatIDs[0], linq.SendMessageRequest{Message: text("m" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	page1, err := b.client.ListMessages(ctx, chatIDs[0], linq.ListMessagesParams{Limit: 2})
	if err != nil || len(page1.Messages) != 2 || page1.NextCursor == "" || page1.Messages[0].Parts[0].Value != "m3" {
		t.Fatalf("page 1 = %+v %v", page1, err)
	}
	page3, err := b.client.ListMessages(ctx, chatIDs[0], linq.ListMessagesParams{Limit: 2, Cursor: encodeCursorFor(t, b, chatIDs[0], page1.NextCursor)})
	if err != nil || len(page3.Messages) != 1 || page3.NextCursor != "" || page3.Messages[0].Parts[0].Value != "hello" {
		t.Fatalf("last page = %+v %v", page3, err)
	}
}

// encodeCursorFor follows one more page to reach the third.
func encodeCursorFor(t *testing.T, b *testBundle, chatID, cursor string) string {
	t.Helper()
	p, err := b.client.ListMessages(context.Background(), chatID, linq.ListMessagesParams{Limit: 2, Cursor: cursor})
	if err != nil || p.NextCursor == "" {
		t.Fatalf("page 2 = %+v %v", p, err)
	}
	return p.NextCursor
}

func TestResponsePartsCarryReactions(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	chat := b.createChat(t, b.lines[0], "+15557779001")
	for _, tc := range []struct {
		name string
		part map[string]any
	}{
		{"text", map[string]any{"type": "text", "value": "hi"}},
		{"media", map[string]any{"type": "media", "url": "https://example.com/cat.jpg"}},
		{"link", map[string]any{"type": "link", "value": "https://example.com"}},
		{"imessage_app", map[string]any{"type": "imessage_app",
			"app":    map[string]string{"bundle_id": "com.example.app", "name": "Example", "team_id": "TEAM1"},
			"layout": map[string]string{"caption": "hi"}}},
		{"app_clip", map[string]any{"type": "app_clip", "value": "https://linq.example/checkout/1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent struct {
				Message struct {
					ID    string           `json:"id"`
					Parts []map[string]any `json:"parts"`
				} `json:"message"`
			}
			body := map[string]any{"message": map[string]any{"parts": []any{tc.part}}}
			if st, _ := b.call(t, "POST", "/v3/chats/"+chat.Chat.ID+"/messages", body, &sent); st != http.StatusAccepted {
				t.Fatalf("send = %d", st)
			}
			var got struct {
				Parts []map[string]any `json:"parts"`
			}
			if st, _ := b.call(t, "GET", "/v3/messages/"+sent.Message.ID, nil, &got); st != http.StatusOK {
				t.Fatalf("get = %d", st)
			}
			// The SDK types every response part with a required reactions list.
			for where, parts := range map[string][]map[string]any{"send answer": sent.Message.Parts, "GET": got.Parts} {
				if len(parts) != 1 {
					t.Fatalf("%s parts = %v", where, parts)
				}
				if r, ok := parts[0]["reactions"]; !ok || r == nil {
					t.Fatalf("%s part has no reactions list: %v", where, parts[0])
				}
			}
		})
	}
}

func TestMentionOnlyInGroups(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	mention := func(handle string) linq.MessageContent {
		return linq.MessageContent{Parts: []linq.Part{{Type: linq.PartText, Value: "hey you", Mention: handle, MentionRange: []int{4, 7}}}}
	}
	direct := b.createChat(t, b.lines[0], "+15557779101")
	group := b.createChat(t, b.lines[0], "+15557779102", "+15557779103")

	t.Run("direct chat send is 409/2023", func(t *testing.T) {
		_, err := b.client.SendMessage(ctx, direct.Chat.ID, linq.SendMessageRequest{Message: mention("+15557779101")})
		wantAPIError(t, err, http.StatusConflict, 2023)
	})
	t.Run("new direct chat is 409/2023 and not created", func(t *testing.T) {
		_, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[1], To: []string{"+15557779104"}, Message: mention("+15557779104")})
		wantAPIError(t, err, http.StatusConflict, 2023)
		list, err := b.client.ListChats(ctx, linq.ListChatsParams{From: b.lines[1]})
		if err != nil || len(list.Chats) != 0 {
			t.Fatalf("chats on the line = %+v, %v; want none", list, err)
		}
	})
	t.Run("group chat send is accepted", func(t *testing.T) {
		if _, err := b.client.SendMessage(ctx, group.Chat.ID, linq.SendMessageRequest{Message: mention("+15557779102")}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeprecatedDeliveryBooleansFollowStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	id, err := b.sim.InjectInbound("+15557779201", b.lines[0], "hello there")
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, status string, delivered, read bool) {
		t.Helper()
		m, err := b.client.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.DeliveryStatus != status || m.IsDelivered != delivered || m.IsRead != read {
			t.Fatalf("status %s is_delivered %v is_read %v, want %s %v %v", m.DeliveryStatus, m.IsDelivered, m.IsRead, status, delivered, read)
		}
	}
	// is_delivered is true only for delivered or read, is_read only for read.
	t.Run("received inbound is neither delivered nor read", func(t *testing.T) { check(t, "received", false, false) })
	t.Run("marked read inbound is delivered and read", func(t *testing.T) {
		m, err := b.client.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.MarkRead(ctx, m.ChatID); err != nil {
			t.Fatal(err)
		}
		check(t, "read", true, true)
	})
}
