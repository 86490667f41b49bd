package router

import (
	"context"
	"sync"
	"time"
)

// batcher groups concurrent signups into one transaction: the first caller
// to find no batch running becomes the leader and runs everything queued
// (up to max) in one go; callers arriving meanwhile queue for the next
// batch, which the leader hands to a fresh goroutine before returning. One
// process therefore holds the pool lock once per batch, not once per signup.
type batcher struct {
	max     int
	timeout time.Duration
	run     func(ctx context.Context, jobs []*job)
	// idle, when set, runs after the last batch of a run of batches, before
	// another batch can start.
	idle func()

	mu      sync.Mutex
	pending []*job
	running bool
}

// do queues j and returns once it has an answer or ctx is done. A job whose
// caller gave up may still be committed.
func (b *batcher) do(ctx context.Context, j *job) error {
	j.done = make(chan struct{})
	b.mu.Lock()
	b.pending = append(b.pending, j)
	lead := !b.running
	if lead {
		b.running = true
	}
	b.mu.Unlock()
	if lead {
		b.drainOnce(context.WithoutCancel(ctx))
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		// The batch still owns j and may commit it; the caller gives up.
		return ctx.Err()
	}
}

// drainOnce runs one batch, then passes leadership to a goroutine when more
// jobs queued up, so the leader's own caller is not kept waiting.
func (b *batcher) drainOnce(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.pending), b.max)
	jobs := b.pending[:n:n]
	b.pending = b.pending[n:]
	b.mu.Unlock()

	bctx, cancel := context.WithTimeout(ctx, b.timeout)
	b.run(bctx, jobs)
	cancel()
	for _, j := range jobs {
		close(j.done)
	}

	b.mu.Lock()
	more := len(b.pending) > 0
	if !more {
		if b.idle != nil {
			b.idle()
		}
		b.running = false
		b.pending = nil
	}
	b.mu.Unlock()
	if more {
		go b.drainOnce(ctx)
	}
}
