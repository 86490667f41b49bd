package main

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linegate/linegate/internal/linq"
)

// product is a product service's event endpoint: it verifies each delivery,
// dedupes by webhook-id and can be down (503) for a while.
type product struct {
	srv  *httptest.Server
	down atomic.Bool

	mu      sync.Mutex
	secret  string
	events  map[string]*seenEvent
	bad     int
	refused int
}

type seenEvent struct {
	typ      string
	linqID   string
	received int
	bodies   map[[32]byte]bool
}

func newProduct() *product {
	p := &product{events: map[string]*seenEvent{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

func (p *product) setSecret(s string) {
	p.mu.Lock()
	p.secret = s
	p.mu.Unlock()
}

func (p *product) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down.Load() {
		p.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if p.secret == "" || linq.VerifyWebhook([]string{p.secret}, r.Header, body, time.Now(), 0) != nil {
		p.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			LinqMessageID string `json:"linq_message_id"`
		} `json:"data"`
	}
	id := r.Header.Get(linq.HeaderWebhookID)
	if json.Unmarshal(body, &ev) != nil || ev.ID != id {
		p.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	e := p.events[id]
	if e == nil {
		e = &seenEvent{typ: ev.Type, linqID: ev.Data.LinqMessageID, bodies: map[[32]byte]bool{}}
		p.events[id] = e
	}
	e.received++
	// Signatures and timestamps differ per attempt; the body must not.
	e.bodies[sha256.Sum256(body)] = true
	w.WriteHeader(http.StatusNoContent)
}

// refusedSoFar is how many deliveries the endpoint refused while down.
func (p *product) refusedSoFar() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// snapshot returns what the endpoint saw, by event id.
func (p *product) snapshot() (map[string]ProductEvent, int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]ProductEvent, len(p.events))
	for id, e := range p.events {
		out[id] = ProductEvent{Type: e.typ, Bodies: len(e.bodies), Received: e.received, LinqMessageID: e.linqID}
	}
	return out, p.bad, p.refused
}
