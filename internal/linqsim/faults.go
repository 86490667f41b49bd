package linqsim

import (
	"net/http"
	"time"
)

// timeoutHold bounds how long a timed-out request is held before its
// connection is dropped, when the client does not give up first.
const timeoutHold = 2 * time.Minute

// Faults are injected failures. Rates are probabilities in [0, 1].
//
// Request faults (ErrorRate, TimeoutRate, FailNext) apply to /v3 requests
// after authentication, and the request is processed first: the send
// happens, then the answer is replaced by a 500 or never comes. That is the
// harder case for a client: a 5xx or a timeout does not mean "not sent".
type Faults struct {
	// Latency is added to every API request.
	Latency time.Duration
	// ErrorRate is the share of requests answered 500 after processing.
	ErrorRate float64
	// TimeoutRate is the share of requests processed and then held
	// without an answer until the client gives up (or 2 minutes pass), when
	// the connection is dropped.
	TimeoutRate float64
	// FailNext answers the next N requests 500 after processing,
	// regardless of ErrorRate (deterministic, for tests).
	FailNext int
	// DropWebhooks is the share of webhook deliveries never made.
	DropWebhooks float64
	// DuplicateWebhooks is the share of webhook deliveries made twice
	// (same event_id, separate webhook-id).
	DuplicateWebhooks float64
	// ReorderWebhooks is the share of webhook deliveries held back for
	// ReorderDelay, so that later events of the same chat overtake them.
	ReorderWebhooks float64
	// FailMessages is the share of accepted outbound messages that fail
	// after sending: message.sent then message.failed instead of
	// .delivered and .read.
	FailMessages float64
}

// faultsJSON is the admin API form of Faults.
type faultsJSON struct {
	LatencyMS         int64   `json:"latency_ms"`
	ErrorRate         float64 `json:"error_rate"`
	TimeoutRate       float64 `json:"timeout_rate"`
	FailNext          int     `json:"fail_next"`
	DropWebhooks      float64 `json:"drop_webhooks"`
	DuplicateWebhooks float64 `json:"duplicate_webhooks"`
	ReorderWebhooks   float64 `json:"reorder_webhooks"`
	FailMessages      float64 `json:"fail_messages"`
}

func (f Faults) toJSON() faultsJSON {
	return faultsJSON{LatencyMS: f.Latency.Milliseconds(), ErrorRate: f.ErrorRate, TimeoutRate: f.TimeoutRate,
		FailNext: f.FailNext, DropWebhooks: f.DropWebhooks, DuplicateWebhooks: f.DuplicateWebhooks,
		ReorderWebhooks: f.ReorderWebhooks, FailMessages: f.FailMessages}
}

func (j faultsJSON) faults() Faults {
	return Faults{Latency: time.Duration(j.LatencyMS) * time.Millisecond, ErrorRate: j.ErrorRate,
		TimeoutRate: j.TimeoutRate, FailNext: j.FailNext, DropWebhooks: j.DropWebhooks,
		DuplicateWebhooks: j.DuplicateWebhooks, ReorderWebhooks: j.ReorderWebhooks, FailMessages: j.FailMessages}
}

// SetFaults replaces the injected faults; the zero Faults turns them off.
func (s *Sim) SetFaults(f Faults) {
	if f == (Faults{}) {
		s.faults.Store(nil)
		return
	}
	s.faults.Store(&f)
}

// Faults returns the injected faults, FailNext counting down as it is used.
func (s *Sim) Faults() Faults {
	if f := s.faults.Load(); f != nil {
		return *f
	}
	return Faults{}
}

// takeFailNext consumes one FailNext credit.
func (s *Sim) takeFailNext() bool {
	for {
		cur := s.faults.Load()
		if cur == nil || cur.FailNext <= 0 {
			return false
		}
		next := *cur
		next.FailNext--
		var store *Faults
		if next != (Faults{}) {
			store = &next
		}
		if s.faults.CompareAndSwap(cur, store) {
			return true
		}
	}
}

// faultHits decides whether a request fault applies and, if so, serves the
// request into a discarded answer and fails it. It reports whether it
// handled the request.
func (s *Sim) faultHits(f *Faults, w http.ResponseWriter, r *http.Request, next http.Handler) bool {
	timeout := s.chance(f.TimeoutRate)
	fail := !timeout && (s.takeFailNext() || s.chance(f.ErrorRate))
	if !timeout && !fail {
		return false
	}
	next.ServeHTTP(&discardWriter{h: http.Header{}}, r)
	s.faultCount.count(timeout)
	if fail {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "simulated server error"})
		return true
	}
	t := time.NewTimer(timeoutHold)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-s.closeCh:
	case <-t.C:
	}
	// Drop the connection without an answer.
	panic(http.ErrAbortHandler)
}

// discardWriter swallows an answer that a fault replaces.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
