package linq_test

import (
	"context"
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

// The Go client against the simulator: every endpoint it has, and its retry
// rules under injected faults.

type bundle struct {
	sim    *linqsim.Sim
	srv    *httptest.Server
	client *linq.Client
	lines  []string
	reqs   atomic.Int64
	clock  *testkit.Clock
	slept  []time.Duration
	mu     sync.Mutex
}

// setup starts a simulator with a fake clock and a client whose sleeps
// advance that clock instead of waiting.
func setup(t *testing.T, retries int) *bundle {
	t.Helper()
	b := &bundle{clock: testkit.NewClock(time.Now().UTC())}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.sim = linqsim.New(linqsim.Config{APIKey: "k", LineCount: 2, Now: b.clock.Now, Logger: quiet})
	h := b.sim.Handler()
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.reqs.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { b.srv.Close(); b.sim.Close() })
	for _, l := range b.sim.Lines() {
		b.lines = append(b.lines, l.PhoneNumber)
	}
	var err error
	b.client, err = linq.New(linq.Config{
		BaseURL: b.srv.URL, APIKey: "k", MaxRetries: retries, Logger: quiet, Now: b.clock.Now,
		SleepFunc: func(_ context.Context, d time.Duration) error {
			b.mu.Lock()
			b.slept = append(b.slept, d)
			b.mu.Unlock()
			b.clock.Advance(d)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func text(s string) linq.MessageContent {
	return linq.MessageContent{Parts: []linq.Part{linq.TextPart(s)}}
}

// must(call())(t) returns call's value, failing t on its error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestClientEveryEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, -1)
	ctx := context.Background()
	c := b.client
	line, other := b.lines[0], "+15556660001"

	phones := must(c.ListPhoneNumbers(ctx))(t)
	if len(phones.PhoneNumbers) != 2 || phones.PhoneNumbers[0].PhoneNumber != line || phones.PhoneNumbers[0].ReputationStatus() != linq.ReputationHealthy {
		t.Fatalf("phone numbers %+v", phones)
	}

	created := must(c.CreateChat(ctx, linq.CreateChatRequest{From: line, To: []string{other}, Message: text("hello")}))(t)
	chatID := created.Chat.ID
	if chatID == "" || created.Chat.Message.ID == "" || created.Chat.Service != linq.ServiceIMessage ||
		created.Chat.HealthStatus.Status != linq.ReputationHealthy || len(created.Chat.Message.Parts) != 1 ||
		created.Chat.Message.Parts[0].Type != linq.PartText {
		t.Fatalf("created %+v", created)
	}

	chat := must(c.GetChat(ctx, chatID))(t)
	if chat.ID != chatID || chat.IsGroup || len(chat.Handles) != 2 || chat.CreatedAt.IsZero() {
		t.Fatalf("chat %+v", chat)
	}
	chats := must(c.ListChats(ctx, linq.ListChatsParams{From: line}))(t)
	if len(chats.Chats) != 1 || chats.NextCursor != "" {
		t.Fatalf("chats %+v", chats)
	}

	media := linq.MessageContent{Parts: []linq.Part{linq.TextPart("pic"), linq.MediaURLPart("https://img.example.com/cat.png")},
		Effect: &linq.Effect{Type: "screen", Name: "confetti"}}
	sent := must(c.SendMessage(ctx, chatID, linq.SendMessageRequest{Message: media}))(t)
	if sent.ChatID != chatID || len(sent.Message.Parts) != 2 || sent.Message.Parts[1].MimeType != "image/png" ||
		sent.Message.Effect == nil || sent.Message.Effect.Name != "confetti" {
		t.Fatalf("sent %+v", sent)
	}

	direct := must(c.CreateMessage(ctx, linq.CreateMessageRequest{To: []string{other}, Message: text("via pool"), IdempotencyKey: "hdr-key"}))(t)
	if direct.ChatID != chatID || direct.CreatedNewChat || direct.FromSelection.Reason != "reused_active_chat" || direct.From != line {
		t.Fatalf("direct %+v", direct)
	}
	again := must(c.CreateMessage(ctx, linq.CreateMessageRequest{To: []string{other}, Message: text("via pool"), IdempotencyKey: "hdr-key"}))(t)
	if again.Message.ID != direct.Message.ID {
		t.Fatal("Idempotency-Key header did not dedupe")
	}

	msgs := must(c.ListMessages(ctx, chatID, linq.ListMessagesParams{Limit: 2}))(t)
	if len(msgs.Messages) != 2 || msgs.NextCursor == "" || msgs.Messages[0].ID != direct.Message.ID {
		t.Fatalf("messages %+v", msgs)
	}
	rest := must(c.ListMessages(ctx, chatID, linq.ListMessagesParams{Limit: 2, Cursor: msgs.NextCursor}))(t)
	if len(rest.Messages) != 1 || rest.NextCursor != "" {
		t.Fatalf("second page %+v", rest)
	}

	msg := must(c.GetMessage(ctx, sent.Message.ID))(t)
	if msg.ChatID != chatID || !msg.IsFromMe || msg.FromHandle == nil || msg.FromHandle.Handle != line {
		t.Fatalf("message %+v", msg)
	}
	edited := must(c.EditMessage(ctx, sent.Message.ID, linq.EditMessageRequest{Text: "picture"}))(t)
	if edited.Parts[0].Value != "picture" {
		t.Fatalf("edited %+v", edited)
	}
	idx := 1
	react := must(c.React(ctx, sent.Message.ID, linq.ReactRequest{Operation: linq.ReactionAdd, Type: "love", PartIndex: &idx}))(t)
	if react.TraceID == "" {
		t.Fatalf("react %+v", react)
	}
	withReaction := must(c.GetMessage(ctx, sent.Message.ID))(t)
	if r := withReaction.Parts[1].Reactions; len(r) != 1 || r[0].Type != "love" || !r[0].IsMe {
		t.Fatalf("reactions %+v", r)
	}
	must(c.React(ctx, sent.Message.ID, linq.ReactRequest{Operation: linq.ReactionRemove, Type: "love", PartIndex: &idx}))(t)

	for name, f := range map[string]func() (*linq.Ack, error){
		"start typing": func() (*linq.Ack, error) { return c.StartTyping(ctx, chatID) },
		"stop typing":  func() (*linq.Ack, error) { return c.StopTyping(ctx, chatID) },
		"mark read":    func() (*linq.Ack, error) { return c.MarkRead(ctx, chatID) },
	} {
		if ack, err := f(); err != nil || ack.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %+v %v", name, ack, err)
		}
	}

	// No contact card yet: sharing fails; create, read, update, share.
	if _, err := c.ShareContactCard(ctx, chatID); !linq.IsNotFound(err) {
		t.Fatalf("share without card = %v", err)
	}
	card := must(c.CreateContactCard(ctx, linq.CreateContactCardRequest{PhoneNumber: line, FirstName: "Lin", LastName: "Gate"}))(t)
	if !card.IsActive || card.FirstName != "Lin" {
		t.Fatalf("card %+v", card)
	}
	if _, err := c.CreateContactCard(ctx, linq.CreateContactCardRequest{PhoneNumber: line, FirstName: "X"}); !isCode(err, 409, linq.CodeContactCardExist) {
		t.Fatalf("second card = %v", err)
	}
	first := "Line"
	upd := must(c.UpdateContactCard(ctx, linq.UpdateContactCardRequest{PhoneNumber: line, FirstName: &first}))(t)
	if upd.FirstName != "Line" || upd.LastName != "Gate" {
		t.Fatalf("updated card %+v", upd)
	}
	cards := must(c.GetContactCard(ctx, line))(t)
	if len(cards.ContactCards) != 1 || cards.ContactCards[0].FirstName != "Line" {
		t.Fatalf("cards %+v", cards)
	}
	if ack, err := c.ShareContactCard(ctx, chatID); err != nil || ack.StatusCode/100 != 2 {
		t.Fatalf("share %+v %v", ack, err)
	}

	im := must(c.CheckIMessage(ctx, linq.CapabilityCheckRequest{Address: other, From: line}))(t)
	if !im.Available || im.SelectedService != linq.ServiceIMessage {
		t.Fatalf("imessage check %+v", im)
	}
	sms := must(c.CheckIMessage(ctx, linq.CapabilityCheckRequest{Address: "+15556660009"}))(t)
	if sms.Available || sms.Reason != "not_supported" || sms.SelectedService != linq.ServiceSMS {
		t.Fatalf("sms-only check %+v", sms)
	}
	rcs := must(c.CheckRCS(ctx, linq.CapabilityCheckRequest{Address: "+15556660008"}))(t)
	if !rcs.Available {
		t.Fatalf("rcs check %+v", rcs)
	}
	if _, err := c.CheckRCS(ctx, linq.CapabilityCheckRequest{Address: "a@b.co"}); !isCode(err, 400, 1001) {
		t.Fatalf("rcs email = %v", err)
	}

	sub := must(c.CreateWebhookSubscription(ctx, linq.CreateWebhookSubscriptionRequest{
		TargetURL: "https://hooks.example.com/linq?version=2026-02-03", SubscribedEvents: []string{linq.EventMessageReceived},
	}))(t)
	if sub.SigningSecret == "" || sub.ID == "" {
		t.Fatalf("subscription %+v", sub)
	}
	subs := must(c.ListWebhookSubscriptions(ctx))(t)
	if len(subs.Subscriptions) != 1 || subs.Subscriptions[0].SigningSecret != "" {
		t.Fatalf("subscriptions %+v", subs)
	}
	events := []string{linq.EventMessageReceived, linq.EventPhoneNumberStatusUpdated}
	filter := []string{line}
	updated := must(c.UpdateWebhookSubscription(ctx, sub.ID, linq.UpdateWebhookSubscriptionRequest{SubscribedEvents: events, PhoneNumbers: &filter}))(t)
	if len(updated.SubscribedEvents) != 2 || len(updated.PhoneNumbers) != 1 {
		t.Fatalf("updated %+v", updated)
	}
	if ack, err := c.DeleteWebhookSubscription(ctx, sub.ID); err != nil || ack.StatusCode != http.StatusNoContent {
		t.Fatalf("delete subscription %+v %v", ack, err)
	}

	if ack, err := c.DeleteMessage(ctx, sent.Message.ID); err != nil || ack.StatusCode != http.StatusNoContent {
		t.Fatalf("delete %+v %v", ack, err)
	}
	if _, err := c.GetMessage(ctx, sent.Message.ID); !linq.IsNotFound(err) {
		t.Fatalf("deleted message = %v", err)
	}
}

func isCode(err error, status, code int) bool {
	e, ok := linq.AsError(err)
	return ok && e.Status == status && e.Code == code
}

func TestClientRetriesAgainstSim(t *testing.T) {
	t.Parallel()
	t.Run("SendWithoutKeyNeverRetried", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		chat := must(b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[0], To: []string{"+15556661001"}, Message: text("a")}))(t)
		b.sim.SetFaults(linqsim.Faults{FailNext: 1})
		before := b.reqs.Load()
		_, err := b.client.SendMessage(context.Background(), chat.Chat.ID, linq.SendMessageRequest{Message: text("b")})
		if err == nil || linq.NotSent(err) {
			t.Fatalf("err %v", err)
		}
		if n := b.reqs.Load() - before; n != 1 {
			t.Fatalf("%d requests for a send without key", n)
		}
		// The 500 hid a real send: the simulator processed it.
		if n := len(b.sim.SendLog()); n != 2 {
			t.Fatalf("%d sends", n)
		}
	})
	t.Run("SendWithKeyRetriedOneMessage", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		chat := must(b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[0], To: []string{"+15556661002"}, Message: text("a")}))(t)
		b.sim.SetFaults(linqsim.Faults{FailNext: 2})
		msg := text("b")
		msg.IdempotencyKey = "retry-key"
		before := b.reqs.Load()
		res, err := b.client.SendMessage(context.Background(), chat.Chat.ID, linq.SendMessageRequest{Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		if n := b.reqs.Load() - before; n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
		var withKey []linqsim.SendRecord
		for _, r := range b.sim.SendLog() {
			if r.IdempotencyKey == "retry-key" {
				withKey = append(withKey, r)
			}
		}
		if len(withKey) != 1 || withKey[0].MessageID != res.Message.ID {
			t.Fatalf("sends with the key %+v, answer %s", withKey, res.Message.ID)
		}
		// Chat create with a key is retried the same way.
		b.sim.SetFaults(linqsim.Faults{FailNext: 1})
		cm := text("c")
		cm.IdempotencyKey = "create-key"
		cres, err := b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[1], To: []string{"+15556661003"}, Message: cm})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range b.sim.SendLog() {
			if r.IdempotencyKey == "create-key" {
				n++
				if r.MessageID != cres.Chat.Message.ID {
					t.Fatal("retried create answered another message")
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d sends for the create key", n)
		}
	})
	t.Run("PairLimitRetryAfterHonoured", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		ctx := context.Background()
		chat := must(b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[0], To: []string{"+15556661004"}, Message: text("a")}))(t)
		for range linqsim.PairLimit - 1 {
			b.clock.Advance(time.Second)
			must(b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("m")}))(t)
		}
		msg := text("31st")
		msg.IdempotencyKey = "pair-key"
		res, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		// The oldest send was 29 s ago: Retry-After 32 (floor(31)+1).
		if len(b.slept) != 1 || b.slept[0] != 32*time.Second {
			t.Fatalf("slept %v, want [32s]", b.slept)
		}
		if b.sim.Count429() != 1 || res.Message.ID == "" {
			t.Fatalf("429s %d", b.sim.Count429())
		}
		// Without a key the 429 comes back to the caller, nothing sent.
		for range linqsim.PairLimit {
			_, err = b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("x")})
		}
		if !linq.IsPairLimit(err) || !linq.NotSent(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("NoRetryOn429AnswersAtOnceAndCountsEvery429", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		var seen atomic.Int64
		client, err := linq.New(linq.Config{
			BaseURL: b.srv.URL, APIKey: "k", MaxRetries: 3, Now: b.clock.Now,
			NoRetryOn429: true, On429Func: func() { seen.Add(1) },
			SleepFunc: func(context.Context, time.Duration) error { t.Error("must not wait"); return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		chat := must(client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[0], To: []string{"+15556661009"}, Message: text("a")}))(t)
		for range linqsim.PairLimit - 1 {
			must(client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("m")}))(t)
		}
		msg := text("31st")
		msg.IdempotencyKey = "keyed-but-limited"
		before := b.reqs.Load()
		_, err = client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg})
		if !linq.IsPairLimit(err) || b.reqs.Load()-before != 1 {
			t.Fatalf("err %v after %d requests, want one pair-limit answer", err, b.reqs.Load()-before)
		}
		if le, _ := linq.AsError(err); le.RetryAfter <= 0 {
			t.Fatalf("Retry-After %v, want Linq's hint", le.RetryAfter)
		}
		if seen.Load() != 1 {
			t.Fatalf("On429Func called %d times", seen.Load())
		}
	})
	t.Run("DeadlineBoundsRetries", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 5)
		chat := must(b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[0], To: []string{"+15556661005"}, Message: text("a")}))(t)
		b.sim.SetFaults(linqsim.Faults{ErrorRate: 1})
		// The fake sleep advances the client's clock; a deadline 1.1 s
		// ahead of it admits the first wait (≤0.5 s) but not the second (≥0.75 s).
		ctx, cancel := context.WithDeadline(context.Background(), b.clock.Now().Add(1100*time.Millisecond))
		defer cancel()
		msg := text("b")
		msg.IdempotencyKey = "deadline-key"
		before := b.reqs.Load()
		_, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg})
		if e, ok := linq.AsError(err); !ok || e.Status != 500 {
			t.Fatalf("err %v", err)
		}
		if n := b.reqs.Load() - before; n != 2 || len(b.slept) != 1 {
			t.Fatalf("%d requests, sleeps %v", n, b.slept)
		}
		n := 0
		for _, r := range b.sim.SendLog() {
			if r.IdempotencyKey == "deadline-key" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d messages for one key", n)
		}
	})
	t.Run("TimeoutUnknownOutcome", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		chat := must(b.client.CreateChat(context.Background(), linq.CreateChatRequest{From: b.lines[0], To: []string{"+15556661006"}, Message: text("a")}))(t)
		b.sim.SetFaults(linqsim.Faults{TimeoutRate: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		msg := text("b")
		msg.IdempotencyKey = "timeout-key"
		_, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: msg})
		if err == nil || linq.NotSent(err) {
			t.Fatalf("err %v", err)
		}
		b.sim.SetFaults(linqsim.Faults{})
		// The caller retries with the same key: the original comes back.
		res, err := b.client.SendMessage(context.Background(), chat.Chat.ID, linq.SendMessageRequest{Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range b.sim.SendLog() {
			if r.IdempotencyKey == "timeout-key" {
				ids = append(ids, r.MessageID)
			}
		}
		if len(ids) != 1 || ids[0] != res.Message.ID {
			t.Fatalf("sends %v, answer %s", ids, res.Message.ID)
		}
	})
}
