package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// replica is one `gateway serve` process and its address.
type replica struct {
	idx               int
	addr, metricsAddr string

	mu sync.Mutex
	up bool
	p  *proc
}

func (r *replica) url() string { return "http://" + r.addr }

func (r *replica) isUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

func (r *replica) set(up bool, p *proc) {
	r.mu.Lock()
	r.up = up
	if p != nil {
		r.p = p
	}
	r.mu.Unlock()
}

// clients sends the run's requests to the replicas and records each one.
type clients struct {
	replicas []*replica
	http     *http.Client

	mu   sync.Mutex
	reqs []Request
	ops  []opsAnswer
}

// opsAnswer is the body of an ops read, checked for secrets at the end.
type opsAnswer struct {
	path string
	body []byte
}

func newClients(replicas []*replica, deadline time.Duration) *clients {
	return &clients{
		replicas: replicas,
		// The gateway answers within its request deadline; a client that
		// waits longer than that plus slack has seen a hang.
		http: &http.Client{Timeout: deadline + 3*time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}},
	}
}

// pick is a random replica that is up (any when none is).
func (c *clients) pick() *replica {
	var up []*replica
	for _, r := range c.replicas {
		if r.isUp() {
			up = append(up, r)
		}
	}
	if len(up) == 0 {
		up = c.replicas
	}
	return up[randN(len(up))]
}

// answer is a decoded gateway answer.
type answer struct {
	status int
	body   map[string]any
	raw    []byte
	code   string
}

// call makes one request to a live replica and records its outcome.
func (c *clients) call(ctx context.Context, op, key, method, path string, body any, header map[string]string) answer {
	r := c.pick()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	rec := Request{Op: op, Replica: r.idx, Start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, method, r.url()+path, rd)
	if err != nil {
		rec.Failure = "conn"
		c.record(rec)
		return answer{}
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	var a answer
	if err != nil {
		rec.Took = time.Since(rec.Start)
		if ctx.Err() != nil {
			return a // the run is over; not a request outcome
		}
		var ne net.Error
		rec.Failure = "conn"
		if errors.As(err, &ne) && ne.Timeout() {
			rec.Failure = "timeout"
		}
		c.record(rec)
		return a
	}
	a.raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	rec.Took = time.Since(rec.Start)
	a.status = resp.StatusCode
	_ = json.Unmarshal(a.raw, &a.body)
	rec.Status = a.status
	if e, ok := a.body["error"].(map[string]any); ok {
		a.code, _ = e["code"].(string)
		_, hasMsg := e["message"].(string)
		rec.Envelope = a.code != "" && hasMsg
	}
	rec.Code = a.code
	c.record(rec)
	return a
}

func (c *clients) record(r Request) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
}

func (c *clients) keepOps(path string, body []byte) {
	c.mu.Lock()
	c.ops = append(c.ops, opsAnswer{path: path, body: body})
	c.mu.Unlock()
}

func randN(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}

func randHex(nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newText is a unique message text carrying the marker the log check
// searches for.
func newText() string { return "hello " + textMarker + randHex(8) }

// simClient talks to the simulator's admin and v3 APIs.
type simClient struct {
	base, key string
	http      *http.Client
}

func (s *simClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return &simError{status: resp.StatusCode, body: string(raw)}
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type simError struct {
	status int
	body   string
}

func (e *simError) Error() string {
	return "simulator answered " + http.StatusText(e.status) + ": " + e.body
}
