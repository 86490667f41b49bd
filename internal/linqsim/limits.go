package linqsim

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// window holds the times of the last PairLimit sends of one
// (line, recipient) pair, oldest first, as a ring.
type window struct {
	ts   [PairLimit]int64
	head int // index of the oldest entry
	n    int
}

// prune drops entries that left the window. The window is closed: a send
// exactly PairWindow ago still counts, so a client must wait strictly longer
// than 60 s after the oldest send (the harder reading of "30 in any 60 s").
func (w *window) prune(now int64) {
	for w.n > 0 && now-w.ts[w.head] > int64(PairWindow) {
		w.head = (w.head + 1) % PairLimit
		w.n--
	}
}

// retryAfter is the whole number of seconds after which the oldest entry
// has left the window: floor(wait)+1, so that retrying after exactly that
// many seconds succeeds even under the closed window.
func (w *window) retryAfter(now int64) int {
	wait := w.ts[w.head] + int64(PairWindow) - now
	return int(wait/int64(time.Second)) + 1
}

func (w *window) add(now int64) {
	w.ts[(w.head+w.n)%PairLimit] = now
	w.n++
}

type pairShard struct {
	mu sync.Mutex
	m  map[string]*window
}

// takePairSlots records one send from line to every recipient, or none if any
// pair is at its limit; then it returns the seconds to wait (the largest over
// the full pairs). Shards are locked in index order so group sends are atomic
// without deadlocks.
func (s *Sim) takePairSlots(from string, recipients []string, now time.Time) int {
	keys := make([]string, len(recipients))
	idx := make([]int, 0, len(recipients))
	for i, r := range recipients {
		keys[i] = from + "|" + r
		idx = append(idx, shardOf(keys[i]))
	}
	locked := slices.Clone(idx)
	slices.Sort(locked)
	locked = slices.Compact(locked)
	for _, i := range locked {
		s.pairs[i].mu.Lock()
	}
	defer func() {
		for _, i := range locked {
			s.pairs[i].mu.Unlock()
		}
	}()

	t := now.UnixNano()
	wins := make([]*window, len(keys))
	wait := 0
	for i, k := range keys {
		sh := &s.pairs[idx[i]]
		w := sh.m[k]
		if w == nil {
			w = &window{}
			sh.m[k] = w
		}
		w.prune(t)
		if w.n >= PairLimit {
			wait = max(wait, w.retryAfter(t))
		}
		wins[i] = w
	}
	if wait > 0 {
		return wait
	}
	for _, w := range wins {
		w.add(t)
	}
	return 0
}

// idemEntry tracks one idempotency key. While ready is false the first send
// with the key is in flight and later ones wait on done.
type idemEntry struct {
	done  chan struct{}
	ready bool
	msg   *message
}

type idemShard struct {
	mu sync.Mutex
	m  map[string]*idemEntry
}

// idemClaim looks up key. It returns the message a previous send with the key
// produced, or claims the key for this request and returns a release func
// that must be called with the new message (or nil when the send failed, so a
// retry may claim the key again). Keys are scoped to the partner: a key reused
// on another chat or line returns the original message. A key whose message
// was deleted answers 404.
func (s *Sim) idemClaim(ctx context.Context, key string) (*message, func(*message), *apiError) {
	sh := &s.idem[shardOf(key)]
	for {
		sh.mu.Lock()
		e := sh.m[key]
		if e == nil {
			e = &idemEntry{done: make(chan struct{})}
			sh.m[key] = e
			sh.mu.Unlock()
			return nil, func(m *message) {
				sh.mu.Lock()
				if m == nil {
					delete(sh.m, key)
				} else {
					e.msg = m
					e.ready = true
				}
				sh.mu.Unlock()
				close(e.done)
			}, nil
		}
		if e.ready {
			m := e.msg
			sh.mu.Unlock()
			m.chat.mu.Lock()
			deleted := m.deleted
			m.chat.mu.Unlock()
			if deleted {
				return nil, nil, errNotFound("the message sent with this idempotency key was deleted")
			}
			return m, nil, nil
		}
		sh.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, nil, &apiError{status: http.StatusRequestTimeout, code: codeConflict,
				message: "request with the same idempotency key still in progress"}
		}
	}
}
