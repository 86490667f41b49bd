package messaging_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/linqsim"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/pgtest"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
)

var seq atomic.Int64

// testLogger writes to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// env is one database, one simulator, and gateway instances on them.
type env struct {
	url  string
	pool *pgxpool.Pool
	sim  *linqsim.Sim
	srv  *httptest.Server
}

func newEnv(t *testing.T) *env { return newEnvWith(t, envOptions{}) }

type envOptions struct {
	// simNow is the simulator's clock (default time.Now).
	simNow func() time.Time
	// front wraps the simulator's handler (to add latency on a fake clock,
	// or act when a request reaches Linq).
	front func(http.Handler) http.Handler
}

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	url := pgtest.NewURL(t)
	pool, err := store.Open(context.Background(), store.PoolConfig{URL: url, MaxConns: 20})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	sim := linqsim.New(linqsim.Config{Logger: testLogger(t), Now: o.simNow})
	t.Cleanup(sim.Close)
	h := sim.Handler()
	if o.front != nil {
		h = o.front(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{url: url, pool: pool, sim: sim, srv: srv}
}

// gateway is one instance of the sending service.
type gateway struct {
	pool    *pgxpool.Pool
	svc     *messaging.Service
	lim     *ratelimit.Limiter
	metrics *metrics.Metrics
}

type gwOptions struct {
	limits func(c *ratelimit.Config)
	msg    func(c *messaging.Config)
	// maxConns caps the instance's pool (default 20).
	maxConns int32
	// tracer, when set, sees every statement of the instance's pool.
	tracer pgx.QueryTracer
}

// newGateway builds an instance with its own pool, as a replica would have.
func (e *env) newGateway(t *testing.T, o gwOptions) *gateway {
	t.Helper()
	pc, err := pgxpool.ParseConfig(e.url)
	require.NoError(t, err)
	pc.MaxConns = cmp.Or(o.maxConns, 20)
	pc.ConnConfig.Tracer = o.tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m := metrics.New()
	// Configured as internal/app configures the production client.
	client, err := linq.New(linq.Config{
		BaseURL: e.srv.URL, APIKey: "test", Logger: testLogger(t),
		NoRetryOn429: true, On429Func: m.Upstream429.Inc,
		// Backoff is the client's business; keep the tests fast.
		SleepFunc: func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	require.NoError(t, err)
	lc, mc := ratelimit.DefaultConfig(), messaging.DefaultConfig()
	if o.limits != nil {
		o.limits(&lc)
	}
	if o.msg != nil {
		o.msg(&mc)
	}
	lim := ratelimit.New(pool, testLogger(t), m, lc)
	svc := messaging.New(pool, client, lim, testLogger(t), m, mc)
	t.Cleanup(svc.Close)
	return &gateway{pool: pool, svc: svc, lim: lim, metrics: m}
}

// quickGateway is an instance whose sends give Linq one second, and the
// ref of a user on a new line.
func (e *env) quickGateway(t *testing.T) (*gateway, string) {
	t.Helper()
	gw := e.newGateway(t, gwOptions{msg: func(c *messaging.Config) { c.SendTimeout = time.Second }})
	line, _ := e.addLine(t)
	ref, _ := e.addUser(t, line)
	return gw, ref
}

// addLine adds a line to the simulator and to Linegate's pool.
func (e *env) addLine(t *testing.T) (int64, string) {
	t.Helper()
	number := fmt.Sprintf("+1555%07d", seq.Add(1))
	e.sim.AddLine(number)
	var id int64
	require.NoError(t, e.pool.QueryRow(context.Background(),
		`INSERT INTO lines (number, warmup_started_at) VALUES ($1, now() - interval '1 year') RETURNING id`, number).Scan(&id))
	return id, number
}

// addUser adds a user on line and returns their user_ref and handle.
func (e *env) addUser(t *testing.T, line int64) (string, string) {
	t.Helper()
	n := seq.Add(1)
	ref, handle := fmt.Sprintf("user-%d", n), fmt.Sprintf("+1415555%04d", n%10000)
	_, err := e.pool.Exec(context.Background(),
		`INSERT INTO users (user_ref, handle, code, home_line_id, current_line_id) VALUES ($1, $2, $3, $4, $4)`,
		ref, handle, fmt.Sprintf("C%d", n), line)
	require.NoError(t, err)
	return ref, handle
}

func text(s string) []linq.Part { return []linq.Part{linq.TextPart(s)} }

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// sendsByKey counts the simulator's sends per idempotency key.
func sendsByKey(sim *linqsim.Sim) map[string]int {
	out := map[string]int{}
	for _, r := range sim.SendLog() {
		out[r.IdempotencyKey]++
	}
	return out
}

// sendUnknown sends req while Linq takes each attempt and answers 500 (the
// client's retries included): the send's outcome is unknown, so a retry of
// its key takes it over.
func (e *env) sendUnknown(t *testing.T, gw *gateway, req messaging.SendRequest) {
	t.Helper()
	e.sim.SetFaults(linqsim.Faults{FailNext: 4})
	_, err := gw.svc.Send(context.Background(), req)
	requireCode(t, err, apperr.BadGateway, "upstream_unavailable")
	e.sim.SetFaults(linqsim.Faults{})
}

// swallowEnv is an env whose front answers the next `swallow` POSTs 502
// without passing them to the simulator (a proxy failing before Linq got
// the request): the send's outcome is unknown to Linegate, but Linq holds
// nothing. reached counts the POSTs that reach the simulator, which a
// resend under a Linq key it holds would not show in its send log.
func swallowEnv(t *testing.T) (e *env, swallow, reached *atomic.Int64) {
	t.Helper()
	swallow, reached = new(atomic.Int64), new(atomic.Int64)
	e = newEnvWith(t, envOptions{front: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && swallow.Load() > 0 {
				swallow.Add(-1)
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			if r.Method == http.MethodPost {
				reached.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}})
	return e, swallow, reached
}
