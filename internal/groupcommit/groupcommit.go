// Package groupcommit gathers concurrent calls into batches that run as one
// statement and one commit, each caller still getting its own answer once
// its batch has committed.
//
// There is no timer: a call that finds a flight free runs at once (alone, at
// low load), and calls arriving while every flight is busy queue for the
// next batch. The wait a call can add is therefore bounded by one batch's
// run, and batches grow with load by themselves.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Config sizes a Batcher.
type Config struct {
	// Max is the largest batch; default 64.
	Max int
	// Flights is how many batches may run at once; default 2, so one batch
	// gathers while another commits.
	Flights int
	// Timeout bounds one batch's run; default 10s.
	Timeout time.Duration
	// Observe, when set, is told each batch's size.
	Observe func(n int)
}

// Batcher runs Do's calls in batches through run.
type Batcher[In, Out any] struct {
	cfg Config
	run func(ctx context.Context, in []In) ([]Out, error)

	mu    sync.Mutex
	queue []*call[In, Out]
	busy  int
}

type call[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

// New returns a Batcher that hands batches to run. run answers every input,
// in order, or fails as a whole; a batch that fails is run again one call at
// a time, so that one bad input fails alone. run must therefore be all or
// nothing (one transaction).
func New[In, Out any](cfg Config, run func(ctx context.Context, in []In) ([]Out, error)) *Batcher[In, Out] {
	if cfg.Max <= 0 {
		cfg.Max = 64
	}
	if cfg.Flights <= 0 {
		cfg.Flights = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Batcher[In, Out]{cfg: cfg, run: run}
}

// Do queues in and returns its answer once its batch has run. A queued call
// is not withdrawn when ctx ends (its batch may already be committing); the
// batch's own timeout bounds the wait instead.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	c := &call[In, Out]{in: in, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := b.busy < b.cfg.Flights
	if lead {
		b.busy++
	}
	b.mu.Unlock()
	if lead {
		b.fly(context.WithoutCancel(ctx))
	}
	<-c.done
	return c.out, c.err
}

// fly runs one batch, then hands the flight to a goroutine when more calls
// queued up meanwhile, so that the leader's own caller is not kept waiting.
func (b *Batcher[In, Out]) fly(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.queue), b.cfg.Max)
	calls := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	if n > 0 {
		b.runBatch(ctx, calls)
	}

	b.mu.Lock()
	more := len(b.queue) > 0
	if !more {
		b.busy--
		if b.busy == 0 {
			b.queue = nil
		}
	}
	b.mu.Unlock()
	if more {
		go b.fly(ctx)
	}
}

func (b *Batcher[In, Out]) runBatch(ctx context.Context, calls []*call[In, Out]) {
	if b.cfg.Observe != nil {
		b.cfg.Observe(len(calls))
	}
	in := make([]In, len(calls))
	for i, c := range calls {
		in[i] = c.in
	}
	out, err := b.runOnce(ctx, in)
	if err != nil && len(calls) > 1 {
		// Nothing of the batch committed: each call runs again alone.
		for _, c := range calls {
			b.runBatch(ctx, []*call[In, Out]{c})
		}
		return
	}
	for i, c := range calls {
		if err != nil {
			c.err = err
		} else {
			c.out = out[i]
		}
		close(c.done)
	}
}

func (b *Batcher[In, Out]) runOnce(ctx context.Context, in []In) (out []Out, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	// A panic would otherwise leave every caller of the batch waiting and
	// its flight taken for good (or end the process, off the leader's
	// goroutine): it fails the batch instead.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("groupcommit: batch panicked: %v", r)
		}
	}()
	out, err = b.run(ctx, in)
	if err == nil && len(out) != len(in) {
		return nil, errShort
	}
	return out, err
}

var errShort = errors.New("groupcommit: a batch answered fewer calls than it was given")
