package app

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/pgtest"
)

func TestShutdown(t *testing.T) {
	t.Parallel()

	t.Run("EveryStepEndsWithinOneShutdownTimeoutFromTheSignal", func(t *testing.T) {
		t.Parallel()
		g := newStuckGateway(t, time.Second)

		signalled := time.Now()
		g.stop()
		require.Error(t, <-g.served, "a request that never ends cannot drain")
		served := time.Now()
		g.app.Close()

		steps := g.steps.all()
		require.Contains(t, steps, "http")
		require.Contains(t, steps, "jobs soft stop")
		require.Contains(t, steps, "jobs cancel", "the stuck job outlives the soft stop")
		// The drain's deadline is SHUTDOWN_TIMEOUT from the signal; nothing
		// after it may be given longer.
		end := steps["http"]
		require.WithinRange(t, end.Add(-time.Second), signalled, served)
		for step, deadline := range steps {
			require.False(t, deadline.After(end), "%s: deadline %s is %s after the shutdown's", step, deadline, deadline.Sub(end))
		}
	})

	t.Run("JobCancelledAtTheDeadlineIsRetried", func(t *testing.T) {
		t.Parallel()
		g := newStuckGateway(t, time.Second)

		g.stop()
		require.Error(t, <-g.served, "a request that never ends cannot drain")
		g.app.Close()

		conn, err := pgx.Connect(context.Background(), g.app.cfg.DatabaseURL)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		var state string
		require.NoError(t, conn.QueryRow(context.Background(),
			`SELECT state FROM river_job WHERE id = $1`, g.jobID).Scan(&state))
		require.Contains(t, []string{"retryable", "available", "scheduled"}, state)
	})
}

// stuckGateway is a started gateway serving a request that never ends and
// running a job that ends only when cancelled.
type stuckGateway struct {
	app    *App
	steps  *stopSteps
	jobID  int64
	stop   context.CancelFunc
	served chan error
}

func newStuckGateway(t *testing.T, grace time.Duration) *stuckGateway {
	t.Helper()
	cfg := TestConfig(pgtest.NewURL(t))
	cfg.ShutdownGrace = grace
	steps := &stopSteps{deadlines: map[string]time.Time{}}
	a := NewForTest(t, cfg, withStopObserver(steps.record))

	jobStarted := make(chan struct{})
	river.AddWorker(a.jobWorkers, &stuckWorker{started: jobStarted})
	requestStarted := make(chan struct{})
	var once sync.Once
	a.handler = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(requestStarted) })
		<-r.Context().Done() // only when the server closes the connection
	})

	ctx := context.Background()
	require.NoError(t, a.Start(ctx))
	job, err := a.jobs.Insert(ctx, stuckArgs{}, nil)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	served := make(chan error, 1)
	go func() { served <- a.Serve(sctx, ln) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
	}()
	for name, started := range map[string]chan struct{}{"request": requestStarted, "job": jobStarted} {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("the %s never started", name)
		}
	}
	return &stuckGateway{app: a, steps: steps, jobID: job.Job.ID, stop: stop, served: served}
}

// stopSteps records the deadline each shutdown step was given.
type stopSteps struct {
	mu        sync.Mutex
	deadlines map[string]time.Time
}

func (s *stopSteps) record(step string, deadline time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadlines[step] = deadline
}

func (s *stopSteps) all() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.deadlines))
	for k, v := range s.deadlines {
		out[k] = v
	}
	return out
}

type stuckArgs struct{}

func (stuckArgs) Kind() string { return "test_stuck" }

// stuckWorker's job runs until its context is cancelled.
type stuckWorker struct {
	river.WorkerDefaults[stuckArgs]
	started chan struct{}
	once    sync.Once
}

func (w *stuckWorker) Work(ctx context.Context, _ *river.Job[stuckArgs]) error {
	w.once.Do(func() { close(w.started) })
	<-ctx.Done()
	return ctx.Err()
}
