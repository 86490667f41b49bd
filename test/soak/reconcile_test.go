package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// cleanInputs is a small run that keeps every promise.
func cleanInputs() Inputs {
	in := Inputs{
		PairLimit: 30, PairWindow: time.Minute, RequestTime: 5 * time.Second,
		Kills:          []Kill{{Replica: 1, Window: Window{t0.Add(10 * time.Second), t0.Add(12 * time.Second)}}},
		PGDown:         []Window{{t0.Add(30 * time.Second), t0.Add(33 * time.Second)}},
		LinqFaults:     Window{t0, t0.Add(time.Minute)},
		Processed:      map[string]bool{"e1": true, "e2": true},
		SimDelivered:   []string{"e1", "e2", "e2"},
		Inbound:        []InboundMsg{{LinqMessageID: "m1", Line: "+15550100000"}},
		InboundCounted: map[string]int64{"+15550100000": 1},
		RecordedSent:   map[string]bool{},
		Deliveries:     []Delivery{{EventID: "evt_1", State: "delivered"}, {EventID: "evt_2", State: "delivered"}},
		Product: map[string]ProductEvent{
			"evt_1": {Type: "message.received", Bodies: 1, Received: 2, LinqMessageID: "m1"},
			"evt_2": {Type: "user.connected", Bodies: 1, Received: 1},
		},
		ReadyzDown: true, ReadyzRecovered: true, RiverAfter: 3, CronAfter: 2,
		Injected: Injected{Kills: 1, PGRestarts: 1, Linq5xx: 1, LinqTimeouts: 1, Duplicated: 1, Reordered: 1, EndpointDown: 1, Flags: 1},
	}
	// 30 sends to one pair within a minute: at the limit, not over it.
	for i := range 30 {
		text := fmt.Sprintf("t%d", i)
		in.SimSends = append(in.SimSends, SimSend{At: t0.Add(time.Duration(i) * time.Second), From: "+15550100000",
			To: []string{"+14155550100"}, MessageID: "lm" + text, IdemKey: "k" + text, Text: text})
		in.Logical = append(in.Logical, LogicalSend{Text: text, Keyed: i%2 == 0, LinqIDs: []string{"lm" + text, "lm" + text}})
		in.RecordedSent["lm"+text] = true
	}
	in.Requests = []Request{
		{Op: "send", Start: t0, Took: time.Second, Status: 201},
		{Op: "send", Start: t0.Add(31 * time.Second), Took: time.Second, Status: 503, Code: "database_unavailable", Envelope: true},
		{Op: "send", Start: t0.Add(5 * time.Second), Took: time.Second, Status: 502, Code: "upstream_unavailable", Envelope: true},
		{Op: "send", Replica: 1, Start: t0.Add(9 * time.Second), Took: time.Second, Failure: "conn"},
		{Op: "send", Start: t0.Add(40 * time.Second), Took: time.Second, Status: 503, Code: "line_unavailable", Envelope: true},
	}
	return in
}

func violated(rep Report) []string {
	var out []string
	for _, r := range rep.Violations() {
		out = append(out, r.Name)
	}
	return out
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	t.Run("ACleanRunPasses", func(t *testing.T) {
		t.Parallel()
		rep := Reconcile(cleanInputs())
		require.Empty(t, violated(rep))
		var out bytes.Buffer
		rep.Print(&out)
		require.Contains(t, out.String(), "max sends per pair in any 1m0s")
		require.Contains(t, out.String(), "send 503 database_unavailable")
	})

	late := t0.Add(45 * time.Second)
	cases := []struct {
		name  string
		plant func(*Inputs)
		want  string
	}{
		{"A31stSendInAWindow", func(in *Inputs) {
			in.SimSends = append(in.SimSends, SimSend{At: t0.Add(60 * time.Second), From: "+15550100000", To: []string{"+14155550100"}, MessageID: "x", Text: "x"})
		}, "max sends per pair in any 1m0s"},
		{"OneKeyTwoMessagesAtTheSimulator", func(in *Inputs) {
			in.SimSends = append(in.SimSends, SimSend{At: late, From: "+15550100001", To: []string{"+1"}, MessageID: "other", IdemKey: "kt0", Text: "y"})
		}, "idempotency keys at the simulator with different message ids"},
		{"AReplicaThatSendsTwice", func(in *Inputs) {
			in.SimSends = append(in.SimSends, SimSend{At: late, From: "+15550100001", To: []string{"+1"}, MessageID: "again", IdemKey: "fresh", Text: "t3"})
		}, "messages sent twice (same text at the simulator)"},
		{"AnAcknowledgedSendThatNeverLeft", func(in *Inputs) {
			in.Logical = append(in.Logical, LogicalSend{Text: "lost", LinqIDs: []string{"lmlost"}})
			in.RecordedSent["lmlost"] = true
		}, "acknowledged sends missing at the simulator"},
		{"AnAcknowledgedSendLeftUnrecorded", func(in *Inputs) { delete(in.RecordedSent, "lmt7") },
			"acknowledged sends not recorded as sent"},
		{"AKeyedSendAcknowledgedTwiceDifferently", func(in *Inputs) {
			in.Logical[0].LinqIDs = []string{"a", "b"}
			in.RecordedSent["a"], in.RecordedSent["b"] = true, true
		}, "keyed sends acknowledged with different Linq ids"},
		{"ASimulator429", func(in *Inputs) { in.Sim429 = 1 }, "simulator 429s"},
		{"AnAcceptedWebhookNeverStored", func(in *Inputs) { in.SimDelivered = append(in.SimDelivered, "e3") }, "accepted webhooks not processed"},
		{"AStoredWebhookNeverProcessed", func(in *Inputs) { in.Processed["e4"] = false }, "accepted webhooks not processed"},
		{"InboundCountedTwice", func(in *Inputs) { in.InboundCounted["+15550100000"] = 2 }, "inbound counted twice"},
		{"InboundNotCounted", func(in *Inputs) { in.InboundCounted = map[string]int64{} }, "inbound not counted"},
		{"InboundNotForwarded", func(in *Inputs) {
			in.Inbound = append(in.Inbound, InboundMsg{LinqMessageID: "m2", Line: "+15550100000"})
			in.InboundCounted["+15550100000"] = 2
		}, "inbound not forwarded to product"},
		{"AProductEventStillRetrying", func(in *Inputs) { in.Deliveries[1].State = "retrying" }, "product events not delivered"},
		{"AProductEventNeverReceived", func(in *Inputs) {
			in.Deliveries = append(in.Deliveries, Delivery{EventID: "evt_3", State: "delivered"})
		}, "product events not delivered"},
		{"AnEventIDReusedForAnotherBody", func(in *Inputs) { in.Product["evt_2"] = ProductEvent{Type: "user.connected", Bodies: 2, Received: 2} }, "product event ids with different bodies"},
		{"UsersLeftOnADownLine", func(in *Inputs) { in.UsersOnDownLines = 3 }, "users on a down line after failover (not stranded)"},
		{"A500", func(in *Inputs) {
			in.Requests = append(in.Requests, Request{Op: "send", Start: late, Status: 500, Code: "internal", Envelope: true})
		}, "client-visible 500s"},
		{"A503WithoutTheEnvelope", func(in *Inputs) {
			in.Requests = append(in.Requests, Request{Op: "send", Start: t0.Add(31 * time.Second), Status: 503})
		}, "5xx or 4xx without the error envelope"},
		{"DatabaseUnavailableLongAfterTheRestart", func(in *Inputs) {
			in.Requests = append(in.Requests, Request{Op: "send", Start: t0.Add(2 * time.Minute), Status: 503, Code: "database_unavailable", Envelope: true})
		}, "502/503 outside the Postgres restart and Linq faults"},
		{"ARequestPastItsDeadline", func(in *Inputs) {
			in.Requests = append(in.Requests, Request{Op: "send", Start: late, Took: 8 * time.Second, Failure: "timeout"})
		}, "requests past their deadline"},
		{"AConnectionErrorWithNoKill", func(in *Inputs) {
			in.Requests = append(in.Requests, Request{Op: "send", Replica: 0, Start: t0.Add(11 * time.Second), Failure: "conn"})
		}, "connection errors outside a kill -9"},
		{"ReadyzNever503", func(in *Inputs) { in.ReadyzDown = false }, "/readyz answered 503 during the Postgres restart"},
		{"ReadyzNeverRecovered", func(in *Inputs) { in.ReadyzRecovered = false }, "/readyz recovered by itself"},
		{"RiverDidNotResume", func(in *Inputs) { in.RiverAfter = 0 }, "River jobs finished after the restart"},
		{"CronDidNotResume", func(in *Inputs) { in.CronAfter = 0 }, "cron runs started after the restart"},
		{"AnOrphanedJob", func(in *Inputs) { in.StuckJobs = 1 }, "River jobs left running > 30 s (orphaned by a kill or the restart)"},
		{"ASecretInALog", func(in *Inputs) { in.LogFindings = []Finding{{Where: "replica-0-1.log:3", What: "ops API key"}} }, "secrets or message text in logs"},
		{"AHashInOpsJSON", func(in *Inputs) { in.OpsFindings = []Finding{{Where: "/v1/ops/api-keys", What: "member key_hash"}} }, "secrets or key hashes in ops JSON"},
		{"AFaultNeverInjected", func(in *Inputs) { in.Injected.Reordered = 0 }, "faults: webhooks reordered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := cleanInputs()
			c.plant(&in)
			require.Equal(t, []string{c.want}, violated(Reconcile(in)))
		})
	}
}

func TestMaxPerPair(t *testing.T) {
	t.Parallel()
	at := func(s ...int) []SimSend {
		var out []SimSend
		for _, v := range s {
			out = append(out, SimSend{At: t0.Add(time.Duration(v) * time.Second), From: "a", To: []string{"b", "c"}})
		}
		return out
	}
	cases := []struct {
		name  string
		sends []SimSend
		want  int
	}{
		{"Empty", nil, 0},
		{"TheWindowIsClosed", at(0, 60), 2},
		{"JustOutside", at(0, 61), 1},
		{"Cluster", at(0, 10, 20, 70, 75), 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, maxPerPair(c.sends, time.Minute))
		})
	}
}
