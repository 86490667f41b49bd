package linqsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
)

func verify(t *testing.T, secret string, d delivery) {
	t.Helper()
	if err := linq.VerifyWebhook([]string{secret}, d.header, d.body, time.Now(), 0); err != nil {
		t.Fatalf("VerifyWebhook: %v", err)
	}
	// Both header sets come on every delivery, and each verifies alone.
	std, legacy := d.header.Clone(), d.header.Clone()
	for _, h := range []string{linq.HeaderLegacySignature, linq.HeaderLegacyTimestamp} {
		std.Del(h)
	}
	for _, h := range []string{linq.HeaderWebhookID, linq.HeaderWebhookTimestamp, linq.HeaderWebhookSignature} {
		legacy.Del(h)
	}
	if err := linq.VerifyWebhook([]string{secret}, std, d.body, time.Now(), 0); err != nil {
		t.Fatalf("standard headers: %v", err)
	}
	if err := linq.VerifyWebhook([]string{secret}, legacy, d.body, time.Now(), 0); err != nil {
		t.Fatalf("legacy headers: %v", err)
	}
	if d.header.Get(linq.HeaderLegacyEvent) != d.event.EventType || d.header.Get(linq.HeaderLegacySubscriptionID) == "" {
		t.Fatalf("legacy headers: %v", d.header)
	}
}

func TestWebhooksOutboundInOrder(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	b := setup(t, setupOpts{webhookURL: rc.srv.URL + "/hook?version=2026-02-03"})
	ctx := context.Background()
	msg := text("hi there")
	msg.IdempotencyKey = "idem-wh"
	chat, err := b.client.CreateChat(ctx, linq.CreateChatRequest{From: b.lines[0], To: []string{"+15558880001"}, Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	got := rc.waitFor(t, "chat.created and message.sent/.delivered/.read",
		hasTypes("chat.created", "message.sent", "message.delivered", "message.read"))
	var order []string
	for _, d := range got {
		verify(t, b.sim.WebhookSecret(), d)
		ev := d.event
		if ev.APIVersion != "v3" || ev.WebhookVersion != "2026-02-03" || ev.PartnerID == "" || ev.TraceID == "" ||
			ev.CreatedAt.IsZero() || ev.EventID == "" {
			t.Fatalf("envelope %+v", ev)
		}
		order = append(order, ev.EventType)
	}
	want := []string{"chat.created", "message.sent", "message.delivered", "message.read"}
	if len(order) != 4 {
		t.Fatalf("events %v", order)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("events in order %v, want %v", order, want)
		}
	}

	var created linq.ChatCreatedData
	if err := got[0].event.DecodeData(&created); err != nil || created.ID != chat.Chat.ID || len(created.Handles) != 2 ||
		created.HealthStatus == nil {
		t.Fatalf("chat.created data %+v %v", created, err)
	}
	for i, ty := range want[1:] {
		var m linq.MessageEventData
		if err := got[i+1].event.DecodeData(&m); err != nil {
			t.Fatal(err)
		}
		if m.ID != chat.Chat.Message.ID || m.Chat.ID != chat.Chat.ID || m.Direction != "outbound" ||
			m.SenderHandle.Handle != b.lines[0] || m.IdempotencyKey != "idem-wh" || len(m.Parts) != 1 ||
			m.Parts[0].Value != "hi there" || m.Chat.OwnerHandle == nil || m.Chat.OwnerHandle.Handle != b.lines[0] {
			t.Fatalf("%s data %+v", ty, m)
		}
		if m.SentAt == nil || (ty == "message.sent") != (m.DeliveredAt == nil) || (ty == "message.read") != (m.ReadAt != nil) {
			t.Fatalf("%s timestamps sent=%v delivered=%v read=%v", ty, m.SentAt, m.DeliveredAt, m.ReadAt)
		}
	}
	// The delivered/read state shows on the message too.
	m, err := b.client.GetMessage(ctx, chat.Chat.Message.ID)
	if err != nil || m.DeliveryStatus != "read" || !m.IsRead || !m.IsDelivered || !m.IsFromMe {
		t.Fatalf("message after delivery %+v %v", m, err)
	}
	if chat.Chat.Message.DeliveryStatus != "queued" || chat.Chat.Message.SentAt != nil {
		t.Fatalf("create answer shows %s sent_at=%v, want queued", chat.Chat.Message.DeliveryStatus, chat.Chat.Message.SentAt)
	}
}

func TestWebhooksOtherEvents(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	b := setup(t, setupOpts{webhookURL: rc.srv.URL})
	ctx := context.Background()
	line, handle := b.lines[0], "+15558880002"

	id, err := b.sim.InjectInbound(handle, line, "STOP")
	if err != nil {
		t.Fatal(err)
	}
	got := rc.waitFor(t, "message.received", hasTypes("chat.created", "message.received"))
	var in linq.MessageEventData
	if err := ofType(got, "message.received")[0].event.DecodeData(&in); err != nil {
		t.Fatal(err)
	}
	if in.ID != id || in.Direction != "inbound" || in.SenderHandle.Handle != handle || in.Parts[0].Value != "STOP" ||
		in.Chat.HealthStatus == nil || in.Chat.HealthStatus.Status != "OPTED_OUT" {
		t.Fatalf("message.received %+v", in)
	}

	if _, err := b.client.React(ctx, id, linq.ReactRequest{Operation: "add", Type: "custom", CustomEmoji: "🙂"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.React(ctx, id, linq.ReactRequest{Operation: "remove", Type: "custom", CustomEmoji: "🙂"}); err != nil {
		t.Fatal(err)
	}
	got = rc.waitFor(t, "reactions", hasTypes("reaction.added", "reaction.removed"))
	var re linq.ReactionEventData
	if err := ofType(got, "reaction.added")[0].event.DecodeData(&re); err != nil {
		t.Fatal(err)
	}
	if !re.IsFromMe || re.ReactionType != "custom" || re.CustomEmoji != "🙂" || re.MessageID != id || re.ChatID == "" {
		t.Fatalf("reaction.added %+v", re)
	}

	if err := b.sim.FlagLine(line); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetReputation(line, linqsim.RepCritical); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.UnflagLine(line); err != nil {
		t.Fatal(err)
	}
	got = rc.waitFor(t, "three status updates", func(ds []delivery) bool { return len(ofType(ds, "phone_number.status_updated")) == 3 })
	var steps [][4]string
	for _, d := range ofType(got, "phone_number.status_updated") {
		verify(t, b.sim.WebhookSecret(), d)
		var st linq.PhoneNumberStatusUpdatedData
		if err := d.event.DecodeData(&st); err != nil || st.PhoneNumber != line || st.ChangedAt.IsZero() {
			t.Fatalf("status data %+v %v", st, err)
		}
		if st.PreviousHealthStatus != st.PreviousReputation || st.NewHealthStatus != st.NewReputation {
			t.Fatalf("deprecated copies differ: %+v", st)
		}
		steps = append(steps, [4]string{st.PreviousStatus, st.NewStatus, st.PreviousReputation, st.NewReputation})
	}
	want := [][4]string{
		{"ACTIVE", "FLAGGED", "HEALTHY", "HEALTHY"},
		{"FLAGGED", "FLAGGED", "HEALTHY", "CRITICAL"},
		{"FLAGGED", "ACTIVE", "CRITICAL", "CRITICAL"},
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("status updates %v, want %v", steps, want)
		}
	}

	// An edit sends message.edited; a failed message sends message.failed.
	chat := b.createChat(t, b.lines[1], "+15558880003")
	if _, err := b.client.EditMessage(ctx, chat.Chat.Message.ID, linq.EditMessageRequest{Text: "edited"}); err != nil {
		t.Fatal(err)
	}
	b.sim.SetFaults(linqsim.Faults{FailMessages: 1})
	failed, err := b.client.SendMessage(ctx, chat.Chat.ID, linq.SendMessageRequest{Message: text("doomed")})
	if err != nil {
		t.Fatal(err)
	}
	got = rc.waitFor(t, "message.edited and message.failed", hasTypes("message.edited", "message.failed"))
	var ed linq.MessageEditedData
	if err := ofType(got, "message.edited")[0].event.DecodeData(&ed); err != nil || ed.Part.Text != "edited" || ed.ID != chat.Chat.Message.ID {
		t.Fatalf("message.edited %+v %v", ed, err)
	}
	var fd linq.MessageFailedData
	if err := ofType(got, "message.failed")[0].event.DecodeData(&fd); err != nil || fd.MessageID != failed.Message.ID || fd.Code == 0 || fd.FailedAt.IsZero() {
		t.Fatalf("message.failed %+v %v", fd, err)
	}
}

func TestWebhookTargetDownThenBack(t *testing.T) {
	t.Parallel()
	t.Run("Answers503", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		rc.status.Store(http.StatusServiceUnavailable)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		if _, err := b.sim.InjectInbound("+15558881001", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		waitStat(t, b.sim, "retries", func(s linqsim.WebhookStats) bool { return s.Retried >= 2 })
		rc.status.Store(0)
		got := rc.waitFor(t, "message.received after recovery", hasTypes("chat.created", "message.received"))
		verify(t, b.sim.WebhookSecret(), got[0])
	})
	t.Run("Answers429", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		rc.status.Store(http.StatusTooManyRequests)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		if _, err := b.sim.InjectInbound("+15558881002", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		waitStat(t, b.sim, "retries", func(s linqsim.WebhookStats) bool { return s.Retried >= 1 })
		rc.status.Store(0)
		rc.waitFor(t, "message.received after 429", hasTypes("message.received"))
	})
	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		// The port refuses connections until the target starts on it later.
		port := reservePort(t)
		b := setup(t, setupOpts{webhookURL: "http://" + port.addr + "/hook"})
		if _, err := b.sim.InjectInbound("+15558881003", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		waitStat(t, b.sim, "retries", func(s linqsim.WebhookStats) bool { return s.Retried >= 2 })
		if n := b.sim.WebhookStats().Delivered; n != 0 {
			t.Fatalf("%d deliveries to a port that refuses connections", n)
		}
		rc := &receiver{}
		srv := &httptest.Server{Listener: port.listen(t), Config: &http.Server{Handler: http.HandlerFunc(rc.serve)}}
		srv.Start()
		defer srv.Close()
		rc.waitFor(t, "delivery after the target came up", hasTypes("chat.created", "message.received"))
	})
	t.Run("GivesUpOnOther4xx", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		rc.status.Store(http.StatusBadRequest)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		if _, err := b.sim.InjectInbound("+15558881004", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		st := waitStat(t, b.sim, "failures", func(s linqsim.WebhookStats) bool { return s.Failed == 2 })
		if st.Retried != 0 {
			t.Fatalf("400 was retried: %+v", st)
		}
	})
	t.Run("TenAttempts", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		rc.status.Store(http.StatusInternalServerError)
		sim := linqsim.New(linqsim.Config{WebhookURL: rc.srv.URL, LineCount: 1, RetryBase: time.Millisecond, Logger: testLogger(t)})
		defer sim.Close()
		if err := sim.FlagLine(sim.Lines()[0].PhoneNumber); err != nil {
			t.Fatal(err)
		}
		st := waitStat(t, sim, "give-up", func(s linqsim.WebhookStats) bool { return s.Failed == 1 })
		if st.Retried != linqsim.MaxWebhookAttempts-1 {
			t.Fatalf("stats %+v, want %d retries", st, linqsim.MaxWebhookAttempts-1)
		}
	})
}

func waitStat(t *testing.T, sim *linqsim.Sim, what string, pred func(linqsim.WebhookStats) bool) linqsim.WebhookStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := sim.WebhookStats()
		if pred(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhookFaults(t *testing.T) {
	t.Parallel()
	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		b.sim.SetFaults(linqsim.Faults{DuplicateWebhooks: 1})
		if _, err := b.sim.InjectInbound("+15558882001", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		got := rc.waitFor(t, "two message.received", func(ds []delivery) bool { return len(ofType(ds, "message.received")) == 2 })
		dups := ofType(got, "message.received")
		if dups[0].event.EventID != dups[1].event.EventID || string(dups[0].body) != string(dups[1].body) {
			t.Fatalf("duplicates differ: %s vs %s", dups[0].body, dups[1].body)
		}
		if dups[0].header.Get(linq.HeaderWebhookID) == dups[1].header.Get(linq.HeaderWebhookID) {
			t.Fatal("duplicates share a webhook-id; the simulator models them as separate deliveries")
		}
		for _, d := range dups {
			verify(t, b.sim.WebhookSecret(), d)
		}
	})
	t.Run("Drop", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		b.sim.SetFaults(linqsim.Faults{DropWebhooks: 1})
		if _, err := b.sim.InjectInbound("+15558882002", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		if st := b.sim.WebhookStats(); st.Dropped != 2 || st.Queued != 0 {
			t.Fatalf("stats %+v, want 2 dropped", st)
		}
		b.sim.SetFaults(linqsim.Faults{})
		if _, err := b.sim.InjectInbound("+15558882002", b.lines[0], "again"); err != nil {
			t.Fatal(err)
		}
		got := rc.waitFor(t, "the later event", hasTypes("message.received"))
		if len(got) != 1 {
			t.Fatalf("dropped events arrived: %d deliveries", len(got))
		}
	})
	t.Run("RetryKeepsWebhookID", func(t *testing.T) {
		t.Parallel()
		ids := make(chan string, 20)
		fail := 2
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ids <- r.Header.Get(linq.HeaderWebhookID) + " " + r.Header.Get(linq.HeaderLegacyEvent)
			if r.Header.Get(linq.HeaderLegacyEvent) == "phone_number.status_updated" && fail > 0 {
				fail--
				w.WriteHeader(http.StatusBadGateway)
			}
		}))
		defer srv.Close()
		sim := linqsim.New(linqsim.Config{WebhookURL: srv.URL, LineCount: 1, RetryBase: time.Millisecond, Logger: testLogger(t)})
		defer sim.Close()
		if err := sim.FlagLine(sim.Lines()[0].PhoneNumber); err != nil {
			t.Fatal(err)
		}
		first, second, third := <-ids, <-ids, <-ids
		if first != second || second != third {
			t.Fatalf("webhook-id changed across retries: %q %q %q", first, second, third)
		}
	})
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	rcAll, rcLine := newReceiver(t), newReceiver(t)
	all, err := b.client.CreateWebhookSubscription(ctx, linq.CreateWebhookSubscriptionRequest{
		TargetURL: rcAll.srv.URL + "/all?version=2026-02-03", SubscribedEvents: []string{"message.received", "reaction.added"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.SigningSecret) != len("whsec_")+44 || all.SigningSecret[:6] != "whsec_" || !all.IsActive || all.ID == "" {
		t.Fatalf("created %+v", all)
	}
	line1, err := b.client.CreateWebhookSubscription(ctx, linq.CreateWebhookSubscriptionRequest{
		TargetURL: rcLine.srv.URL + "/line1", SubscribedEvents: []string{"message.received", "phone_number.status_updated"},
		PhoneNumbers: []string{b.lines[1]},
	})
	if err != nil {
		t.Fatal(err)
	}
	// One target URL per account.
	_, err = b.client.CreateWebhookSubscription(ctx, linq.CreateWebhookSubscriptionRequest{
		TargetURL: rcAll.srv.URL + "/all?version=2026-02-03", SubscribedEvents: []string{"message.sent"},
	})
	wantAPIError(t, err, http.StatusConflict, 1004)

	list, err := b.client.ListWebhookSubscriptions(ctx)
	if err != nil || len(list.Subscriptions) != 2 || list.Subscriptions[0].SigningSecret != "" {
		t.Fatalf("list %+v %v", list, err)
	}

	if _, err := b.sim.InjectInbound("+15558883001", b.lines[0], "to line 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.sim.InjectInbound("+15558883002", b.lines[1], "to line 1"); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.FlagLine(b.lines[1]); err != nil {
		t.Fatal(err)
	}
	gotAll := rcAll.waitFor(t, "both inbound", func(ds []delivery) bool { return len(ds) == 2 })
	for _, d := range gotAll {
		if d.event.EventType != "message.received" {
			t.Fatalf("unsubscribed event %s delivered", d.event.EventType)
		}
		if err := linq.VerifyWebhook([]string{all.SigningSecret}, d.header, d.body, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
		if err := linq.VerifyWebhook([]string{line1.SigningSecret}, d.header, d.body, time.Now(), 0); err == nil {
			t.Fatal("another subscription's secret verified")
		}
	}
	gotLine := rcLine.waitFor(t, "line 1 events", hasTypes("message.received", "phone_number.status_updated"))
	for _, d := range gotLine {
		if d.header.Get(linq.HeaderLegacySubscriptionID) != line1.ID {
			t.Fatalf("subscription id header %q", d.header.Get(linq.HeaderLegacySubscriptionID))
		}
		if d.event.EventType == "message.received" {
			var m linq.MessageEventData
			_ = d.event.DecodeData(&m)
			if m.Chat.OwnerHandle.Handle != b.lines[1] {
				t.Fatalf("filtered subscription got an event of %s", m.Chat.OwnerHandle.Handle)
			}
		}
	}

	// Deactivate, then remove the line filter; delete.
	off := false
	upd, err := b.client.UpdateWebhookSubscription(ctx, all.ID, linq.UpdateWebhookSubscriptionRequest{IsActive: &off})
	if err != nil || upd.IsActive {
		t.Fatalf("update %+v %v", upd, err)
	}
	none := []string{}
	upd, err = b.client.UpdateWebhookSubscription(ctx, line1.ID, linq.UpdateWebhookSubscriptionRequest{PhoneNumbers: &none})
	if err != nil || len(upd.PhoneNumbers) != 0 {
		t.Fatalf("clear filter %+v %v", upd, err)
	}
	if _, err := b.client.DeleteWebhookSubscription(ctx, all.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.DeleteWebhookSubscription(ctx, all.ID); !linq.IsNotFound(err) {
		t.Fatalf("second delete = %v", err)
	}
	var events struct {
		DocURL string   `json:"doc_url"`
		Events []string `json:"events"`
	}
	b.call(t, "GET", "/v3/webhook-events", nil, &events)
	if len(events.Events) != 45 || events.DocURL == "" {
		t.Fatalf("webhook-events = %d events", len(events.Events))
	}
	raw, _ := json.Marshal(events)
	if len(raw) == 0 {
		t.Fatal("empty")
	}
}

func TestSubscriptionPhoneFilterClearedByNullOrEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	for _, tc := range []struct{ clear, path string }{{`null`, "/null"}, {`[]`, "/empty"}} {
		clear := tc.clear
		t.Run("phone_numbers "+clear, func(t *testing.T) {
			rc := newReceiver(t)
			sub, err := b.client.CreateWebhookSubscription(ctx, linq.CreateWebhookSubscriptionRequest{
				TargetURL: rc.srv.URL + tc.path, SubscribedEvents: []string{"message.received"},
				PhoneNumbers: []string{b.lines[1]},
			})
			if err != nil {
				t.Fatal(err)
			}
			var upd struct {
				PhoneNumbers []string `json:"phone_numbers"`
			}
			st, _ := b.call(t, "PUT", "/v3/webhook-subscriptions/"+sub.ID, `{"phone_numbers":`+clear+`}`, &upd)
			if st != http.StatusOK || len(upd.PhoneNumbers) != 0 {
				t.Fatalf("PUT phone_numbers %s = %d, filter %v; want 200 and no filter", clear, st, upd.PhoneNumbers)
			}
		})
	}
}
