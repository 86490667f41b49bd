package linqsim

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ReorderDelay is how long the reorder_webhooks fault holds a delivery back:
// long enough for the chat's next events to arrive first.
const ReorderDelay = 750 * time.Millisecond

// DeliveredWebhook is one webhook delivery a receiver answered with a 2xx.
// A chaos run checks that every one of them was processed.
type DeliveredWebhook struct {
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	WebhookID string    `json:"webhook_id"`
	Target    string    `json:"target"`
	Status    int       `json:"status"`
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
}

// FaultStats counts the request faults applied since the simulator started.
type FaultStats struct {
	Errors   int64 `json:"errors"`   // answered 500 after processing
	Timeouts int64 `json:"timeouts"` // processed, then never answered
}

type faultCounters struct{ errors, timeouts atomic.Int64 }

func (c *faultCounters) count(timeout bool) {
	if timeout {
		c.timeouts.Add(1)
		return
	}
	c.errors.Add(1)
}

// FaultStats returns the request fault counters.
func (s *Sim) FaultStats() FaultStats {
	return FaultStats{Errors: s.faultCount.errors.Load(), Timeouts: s.faultCount.timeouts.Load()}
}

type deliveryLog struct {
	mu   sync.Mutex
	recs []DeliveredWebhook
}

func (l *deliveryLog) add(d *delivery, status int, at time.Time) {
	l.mu.Lock()
	l.recs = append(l.recs, DeliveredWebhook{EventID: d.eventID, EventType: d.eventType, WebhookID: d.webhookID,
		Target: d.sub.targetURL, Status: status, Attempt: d.attempt, At: at})
	l.mu.Unlock()
}

// DeliveredWebhooks lists every delivery answered 2xx, oldest first.
func (s *Sim) DeliveredWebhooks() []DeliveredWebhook {
	l := &s.hooks.log
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]DeliveredWebhook(nil), l.recs...)
}

func (s *Sim) serveDeliveredWebhooks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": s.DeliveredWebhooks()})
}

// enqueueMaybeLate queues d now, or after ReorderDelay when the
// reorder_webhooks fault picks it.
func (h *hookEngine) enqueueMaybeLate(f *Faults, d *delivery) {
	if f != nil && h.s.chance(f.ReorderWebhooks) {
		h.reordered.Add(1)
		time.AfterFunc(ReorderDelay, func() { h.enqueue(d) })
		return
	}
	h.enqueue(d)
}
