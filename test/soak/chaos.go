package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// chaos is what the run did to the stack, and when.
type chaos struct {
	mu       sync.Mutex
	kills    []Kill
	pgDown   []Window
	faults   Window
	flags    int64
	lines    []string
	readyz   []readyObs
	problems []string
}

type readyObs struct {
	replica int
	at      time.Time
	status  int
}

func (c *chaos) problem(format string, args ...any) {
	c.mu.Lock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// drive runs the clients for the run's duration while the chaos schedule
// plays, then turns the faults off.
func (e *env) drive(ctx context.Context) {
	e.c = &chaos{}
	var lines struct {
		Lines []struct {
			PhoneNumber string `json:"phone_number"`
		} `json:"lines"`
	}
	if err := e.sim.do(ctx, "GET", "/_sim/lines", nil, &lines); err != nil {
		e.c.problem("list lines: %v", err)
	}
	for _, l := range lines.Lines {
		e.c.lines = append(e.c.lines, l.PhoneNumber)
	}

	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go e.pollReadyz(pollCtx)

	t0 := time.Now()
	d := e.o.duration
	at := func(f float64) { sleep(ctx, time.Until(t0.Add(time.Duration(f*float64(d))))) }

	var wg sync.WaitGroup
	for range e.o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.w.loop(ctx)
		}()
	}

	at(0.05)
	e.c.faults.From = time.Now()
	e.setFaults(ctx, map[string]any{"error_rate": 0.2, "timeout_rate": 0.05, "duplicate_webhooks": 0.2, "reorder_webhooks": 0.2})
	at(0.15)
	e.kill(ctx, e.reps[1])
	at(0.25)
	e.flag(ctx, 0, "flag")
	at(0.30)
	e.endpointDown(ctx, min(20*time.Second, time.Duration(0.3*float64(d))))
	at(0.45)
	e.flag(ctx, 0, "unflag")
	at(0.55)
	e.restartPostgres(ctx)
	at(0.70)
	e.flag(ctx, 1, "flag")
	at(0.80)
	e.kill(ctx, e.reps[0])
	at(1)

	e.w.stopped.Store(true)
	wg.Wait()
	e.c.faults.To = time.Now()
	e.setFaults(ctx, map[string]any{})
	e.prod.down.Store(false)
}

// endpointDown takes the product endpoint down for at least d and until it
// has refused a delivery, or the run ends: a Postgres restart or a kill in
// the window can hold every delivery back until it would have passed, and
// the outage is there to make deliveries fail and be retried.
func (e *env) endpointDown(ctx context.Context, d time.Duration) {
	e.prod.down.Store(true)
	go func() {
		sleep(ctx, d)
		for ctx.Err() == nil && !e.w.stopped.Load() && e.prod.refusedSoFar() == 0 {
			sleep(ctx, 100*time.Millisecond)
		}
		e.prod.down.Store(false)
	}()
}

func (e *env) setFaults(ctx context.Context, f map[string]any) {
	if err := e.sim.do(ctx, "PUT", "/_sim/faults", f, nil); err != nil {
		e.c.problem("set faults: %v", err)
	}
}

// kill ends a replica with SIGKILL and starts it again.
func (e *env) kill(ctx context.Context, r *replica) {
	r.mu.Lock()
	p := r.p
	r.up = false
	r.mu.Unlock()
	from := time.Now()
	p.kill9()
	sleep(ctx, time.Second)
	if err := e.startReplica(ctx, r); err != nil {
		e.c.problem("restart replica %d: %v", r.idx, err)
		return
	}
	e.c.mu.Lock()
	e.c.kills = append(e.c.kills, Kill{Replica: r.idx, Window: Window{From: from, To: time.Now()}})
	e.c.mu.Unlock()
}

func (e *env) flag(ctx context.Context, i int, verb string) {
	if i >= len(e.c.lines) {
		return
	}
	if err := e.sim.do(ctx, "POST", "/_sim/lines/"+e.c.lines[i]+"/"+verb, nil, nil); err != nil {
		e.c.problem("%s line: %v", verb, err)
		return
	}
	if verb == "flag" {
		e.c.mu.Lock()
		e.c.flags++
		e.c.mu.Unlock()
	}
}

// restartPostgres crashes the cluster (an immediate shutdown: what the
// gateway did not wait to have flushed is lost), keeps it down long enough
// for readiness to notice, and starts it on the same port.
func (e *env) restartPostgres(ctx context.Context) {
	from := time.Now()
	if err := e.pg.crash(ctx); err != nil {
		e.c.problem("crash postgres: %v", err)
		return
	}
	sleep(ctx, 2*time.Second)
	if err := e.pg.start(ctx); err != nil {
		e.c.problem("start postgres: %v", err)
		return
	}
	e.c.mu.Lock()
	e.c.pgDown = append(e.c.pgDown, Window{From: from, To: time.Now()})
	e.c.mu.Unlock()
}

// pollReadyz asks every replica's /readyz ten times a second.
func (e *env) pollReadyz(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Second}
	for ctx.Err() == nil {
		for _, r := range e.reps {
			if !r.isUp() {
				continue
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", r.url()+"/readyz", nil)
			st := 0
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				st = resp.StatusCode
			}
			e.c.mu.Lock()
			e.c.readyz = append(e.c.readyz, readyObs{replica: r.idx, at: time.Now(), status: st})
			e.c.mu.Unlock()
		}
		sleep(ctx, 100*time.Millisecond)
	}
}
