package linqsim_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/linegate/linegate/internal/linqsim"
)

func TestReorderedWebhooksAndDeliveryLog(t *testing.T) {
	t.Parallel()
	t.Run("HeldBackDeliveryArrivesAfterALaterEvent", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		b.sim.SetFaults(linqsim.Faults{ReorderWebhooks: 1})
		if _, err := b.sim.InjectInbound("+15558883001", b.lines[0], "first"); err != nil {
			t.Fatal(err)
		}
		b.sim.SetFaults(linqsim.Faults{})
		if _, err := b.sim.InjectInbound("+15558883001", b.lines[0], "second"); err != nil {
			t.Fatal(err)
		}
		got := rc.waitFor(t, "both messages", func(ds []delivery) bool { return len(ofType(ds, "message.received")) == 2 })
		recv := ofType(got, "message.received")
		if !bytes.Contains(recv[0].body, []byte(`"second"`)) {
			t.Fatalf("first delivery carried %s, want the later event first", recv[0].body)
		}
		if st := b.sim.WebhookStats(); st.Reordered != 2 {
			t.Fatalf("stats %+v, want 2 reordered (chat.created and message.received)", st)
		}
	})
	t.Run("LogListsEveryAcceptedDeliveryWithItsEventID", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		b := setup(t, setupOpts{webhookURL: rc.srv.URL})
		if _, err := b.sim.InjectInbound("+15558883002", b.lines[0], "hello"); err != nil {
			t.Fatal(err)
		}
		got := rc.waitFor(t, "two deliveries", func(ds []delivery) bool { return len(ds) == 2 })
		var log struct {
			Deliveries []linqsim.DeliveredWebhook `json:"deliveries"`
		}
		// The simulator logs a delivery once the receiver has answered it,
		// which is after the receiver has seen it.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if st, _ := b.call(t, http.MethodGet, "/_sim/webhook-deliveries", nil, &log); st != http.StatusOK {
				t.Fatalf("status %d", st)
			}
			if len(log.Deliveries) >= len(got) || time.Now().After(deadline) {
				break
			}
		}
		if len(log.Deliveries) != len(got) {
			t.Fatalf("log has %d deliveries, receiver saw %d", len(log.Deliveries), len(got))
		}
		seen := map[string]bool{}
		for _, d := range got {
			seen[d.event.EventID] = true
		}
		for _, d := range log.Deliveries {
			if !seen[d.EventID] || d.Status/100 != 2 {
				t.Fatalf("log entry %+v does not match a delivery", d)
			}
		}
	})
	t.Run("FaultStatsCountErrors", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.sim.SetFaults(linqsim.Faults{FailNext: 2})
		for range 3 {
			b.call(t, http.MethodGet, "/v3/phone_numbers", nil, nil)
		}
		if st := b.sim.FaultStats(); st.Errors != 2 || st.Timeouts != 0 {
			t.Fatalf("fault stats %+v, want 2 errors", st)
		}
	})
}
