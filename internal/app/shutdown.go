package app

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// shutdown holds the one deadline of a stop, SHUTDOWN_TIMEOUT from the stop
// signal: the HTTP drain and the job queue's stop run side by side within
// it, rather than each taking the whole timeout one after another.
type shutdown struct {
	mu     sync.Mutex
	ctx    context.Context // nil until the shutdown begins
	cancel context.CancelFunc
	// starts run when the shutdown begins.
	starts []func(context.Context)
}

// beginShutdown takes the shutdown deadline on its first call (Serve's
// context ending, or Close) and starts the steps that run beside the HTTP
// drain; it returns the context that ends at the deadline.
func (a *App) beginShutdown() context.Context {
	a.stop.mu.Lock()
	defer a.stop.mu.Unlock()
	if a.stop.ctx != nil {
		return a.stop.ctx
	}
	grace := a.cfg.ShutdownGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	// The wall clock, not a.now: a test's clock may stand still or in the
	// past, and this deadline bounds real waits.
	a.stop.ctx, a.stop.cancel = context.WithTimeout(context.Background(), grace)
	a.logger.Info("shutting down", slog.Duration("grace", grace))
	for _, start := range a.stop.starts {
		start(a.stop.ctx)
	}
	a.stop.starts = nil
	return a.stop.ctx
}

// onShutdown runs stop in the background from the moment the shutdown
// begins, and returns a stopper for Close that waits for it.
func (a *App) onShutdown(stop func(ctx context.Context)) func() {
	done := make(chan struct{})
	start := func(ctx context.Context) {
		go func() {
			defer close(done)
			stop(ctx)
		}()
	}
	a.stop.mu.Lock()
	if a.stop.ctx != nil {
		start(a.stop.ctx)
	} else {
		a.stop.starts = append(a.stop.starts, start)
	}
	a.stop.mu.Unlock()
	return func() {
		a.beginShutdown()
		<-done
	}
}

// observe reports a shutdown step's deadline to the observer tests set.
func (a *App) observe(ctx context.Context, step string) {
	if a.observeStop == nil {
		return
	}
	deadline, _ := ctx.Deadline()
	a.observeStop(step, deadline)
}
