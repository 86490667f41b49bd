package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// user is a product user the run signed up.
type user struct {
	ref, handle, line string
}

// workload is the traffic of product services and of the users themselves.
type workload struct {
	e       *env
	stopped atomic.Bool

	mu       sync.Mutex
	users    []*user
	next     int
	sentIDs  []string
	logical  []*LogicalSend
	inbound  []InboundMsg
	injectFa int
}

func newWorkload(e *env) *workload { return &workload{e: e} }

// handleFor is user i's phone number.
func handleFor(i int) string { return fmt.Sprintf("+1415%03d%04d", 200+i/10000, i%10000) }

func (w *workload) seed(ctx context.Context, n int) error {
	for range n {
		w.signup(ctx)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.users) < n/2 {
		return fmt.Errorf("only %d of %d seed signups succeeded", len(w.users), n)
	}
	return nil
}

// signup creates a user; half give their handle at signup, the other half
// connect by writing the signup body to their line, as a person would.
func (w *workload) signup(ctx context.Context) {
	w.mu.Lock()
	i := w.next
	w.next++
	w.mu.Unlock()
	u := &user{ref: fmt.Sprintf("soak-u-%d", i), handle: handleFor(i)}
	body := map[string]any{"user_ref": u.ref, "prefill_text": "Hi " + textMarker + randHex(8)}
	if i%2 == 0 {
		body["handle"] = u.handle
	}
	a := w.e.cl.call(ctx, "signup", w.e.productKey, "POST", "/v1/signups", body, nil)
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		return
	}
	line, _ := a.body["line"].(map[string]any)
	u.line, _ = line["number"].(string)
	if i%2 == 1 {
		text, _ := a.body["body"].(string)
		if !w.inject(ctx, u.handle, u.line, text) {
			return
		}
	}
	w.mu.Lock()
	w.users = append(w.users, u)
	w.mu.Unlock()
}

// inject makes the simulator receive text from a user on a line.
func (w *workload) inject(ctx context.Context, from, line, text string) bool {
	var out struct {
		MessageID string `json:"message_id"`
	}
	if err := w.e.sim.do(ctx, "POST", "/_sim/inbound", map[string]string{"from": from, "to": line, "text": text}, &out); err != nil {
		w.mu.Lock()
		w.injectFa++
		w.mu.Unlock()
		return false
	}
	w.mu.Lock()
	w.inbound = append(w.inbound, InboundMsg{LinqMessageID: out.MessageID, Line: line})
	w.mu.Unlock()
	return true
}

// pickUser favours a few hot users, so that their pairs reach the limit.
func (w *workload) pickUser() *user {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.users) == 0 {
		return nil
	}
	if randN(2) == 0 {
		return w.users[randN(min(4, len(w.users)))]
	}
	return w.users[randN(len(w.users))]
}

// send sends one new message; with a key, it retries an unknown outcome
// (502, 503, no answer) with the same key until it is acknowledged or the
// run ends, as a careful product service does.
func (w *workload) send(ctx context.Context, keyed bool) {
	u := w.pickUser()
	if u == nil {
		return
	}
	ls := &LogicalSend{Text: newText(), Keyed: keyed}
	w.mu.Lock()
	w.logical = append(w.logical, ls)
	w.mu.Unlock()
	body := map[string]any{"user_ref": u.ref, "parts": []map[string]string{{"type": "text", "value": ls.Text}}}
	op := "send"
	var hdr map[string]string
	if keyed {
		op = "send+key"
		hdr = map[string]string{"Idempotency-Key": "soak-" + randHex(12)}
	}
	giveUp := time.Now().Add(30 * time.Second)
	for {
		a := w.e.cl.call(ctx, op, w.e.productKey, "POST", "/v1/messages", body, hdr)
		if a.status == http.StatusCreated {
			id, _ := a.body["id"].(string)
			linqID, _ := a.body["linq_message_id"].(string)
			w.mu.Lock()
			ls.LinqIDs = append(ls.LinqIDs, linqID)
			w.sentIDs = append(w.sentIDs, id)
			w.mu.Unlock()
			return
		}
		retry := a.status == 0 || a.status == http.StatusBadGateway ||
			(a.status == http.StatusServiceUnavailable && (a.code == "database_unavailable" || a.code == "request_timeout")) ||
			(a.status == http.StatusConflict && a.code == "idempotency_in_progress")
		if !keyed || !retry || ctx.Err() != nil || time.Now().After(giveUp) {
			return
		}
		sleep(ctx, 300*time.Millisecond)
	}
}

func (w *workload) react(ctx context.Context) {
	w.mu.Lock()
	if len(w.sentIDs) == 0 {
		w.mu.Unlock()
		return
	}
	id := w.sentIDs[randN(len(w.sentIDs))]
	w.mu.Unlock()
	w.e.cl.call(ctx, "reaction", w.e.productKey, "POST", "/v1/messages/"+id+"/reactions",
		map[string]any{"operation": "add", "type": "love"}, nil)
}

func (w *workload) write(ctx context.Context) {
	if u := w.pickUser(); u != nil {
		w.inject(ctx, u.handle, u.line, newText())
	}
}

// opsPaths are the ops reads the run makes; their answers are checked for
// secrets and key hashes.
var opsPaths = []string{"/v1/ops/api-keys", "/v1/ops/event-subscriptions", "/v1/ops/lines", "/v1/ops/health",
	"/v1/ops/failovers", "/v1/ops/event-deliveries?limit=20", "/v1/ops/quarantines", "/v1/ops/rotation"}

func (w *workload) opsRead(ctx context.Context) {
	p := opsPaths[randN(len(opsPaths))]
	if a := w.e.cl.call(ctx, "ops", w.e.opsKey, "GET", p, nil, nil); a.status == http.StatusOK {
		w.e.cl.keepOps(p, a.raw)
	}
}

// loop is one client: a weighted mix of actions with short pauses.
func (w *workload) loop(ctx context.Context) {
	for !w.stopped.Load() && ctx.Err() == nil {
		switch n := randN(100); {
		case n < 35:
			w.send(ctx, true)
		case n < 50:
			w.send(ctx, false)
		case n < 60:
			w.react(ctx)
		case n < 66:
			w.signup(ctx)
		case n < 92:
			w.write(ctx)
		default:
			w.opsRead(ctx)
		}
		sleep(ctx, time.Duration(10+randN(30))*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
