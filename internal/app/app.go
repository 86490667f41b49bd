// Package app wires Linegate together: pool, migrations, services, HTTP
// handler and background jobs. cmd/gateway and the end-to-end tests build
// the service through it, so tests exercise the production wiring; two Apps
// on one database behave as two replicas.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/config"
	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/httpapi"
	"github.com/linegate/linegate/internal/inbound"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/schedule"
	"github.com/linegate/linegate/internal/store"
	"github.com/linegate/linegate/internal/webhooks"
)

// Option adjusts how an App is built (tests and the benchmark use these).
type Option func(*options)

type options struct {
	now         func() time.Time
	linqBaseURL string
	observeStop func(step string, deadline time.Time)
}

// WithClock replaces the wall clock of every service.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLinqBaseURL points the Linq client somewhere else than the config says.
func WithLinqBaseURL(u string) Option { return func(o *options) { o.linqBaseURL = u } }

// withStopObserver hands observe the deadline each step of a shutdown is
// given, so tests can check they share one.
func withStopObserver(observe func(step string, deadline time.Time)) Option {
	return func(o *options) { o.observeStop = observe }
}

// App is one gateway instance.
type App struct {
	cfg     config.Config
	logger  *slog.Logger
	pool    *pgxpool.Pool
	metrics *metrics.Metrics
	keys    *apikey.Service
	linq    *linq.Client
	handler http.Handler
	routes  []httpapi.Route
	// messages is kept for the benchmark, which measures its admission SQL
	// on its own.
	messages *messaging.Service
	now      func() time.Time
	// observeStop, when set, sees each shutdown step's deadline.
	observeStop func(step string, deadline time.Time)
	// stop is the one deadline every shutdown step shares (shutdown.go).
	stop shutdown

	// scheduled lists the jobs of every schedule (App.schedule).
	scheduled []schedule.Job
	// starters run when Start is called; stoppers run in reverse on Close.
	starters []func(ctx context.Context) error
	stoppers []func()
	// background runs start-up steps beside serving (linqAtStart); Close
	// cancels them and waits.
	background       sync.WaitGroup
	backgroundCtx    context.Context
	cancelBackground context.CancelFunc

	// River job queue and the services built on it (river.go, webhooks.go).
	// lineHealth, when set before wireWebhooks runs, receives Linq's line
	// observations.
	jobs       *river.Client[pgx.Tx]
	jobWorkers *river.Workers
	events     *events.Service
	webhooks   *webhooks.Service
	lineHealth inbound.HealthApplier
}

// New opens the pool, migrates (unless disabled) and builds every service.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts ...Option) (*App, error) {
	o := options{now: time.Now, linqBaseURL: cfg.LinqBaseURL}
	for _, opt := range opts {
		opt(&o)
	}
	pool, err := store.Open(ctx, store.PoolConfig{URL: cfg.DatabaseURL, MaxConns: int32(cfg.DBMaxConns)})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, logger: logger, pool: pool, metrics: metrics.New(), now: o.now, observeStop: o.observeStop}
	a.backgroundCtx, a.cancelBackground = context.WithCancel(context.Background())
	if err := a.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	linqKey := cfg.LinqAPIKey
	if linqKey == "" {
		linqKey = "simulator" // the simulator accepts any bearer
	}
	a.linq, err = linq.New(linq.Config{
		BaseURL: o.linqBaseURL, APIKey: linqKey, Logger: logger, Now: o.now,
		NoRetryOn429: true, On429Func: a.metrics.Upstream429.Inc,
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("linq client: %w", err)
	}
	a.keys = apikey.New(pool, apikey.Config{CacheTTL: cfg.AuthCacheTTL, Now: o.now})

	deps := httpapi.Deps{
		Logger:         logger,
		Metrics:        a.metrics,
		DB:             pool,
		Auth:           a.keys,
		Keys:           a.keys,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RequestTimeout,

		MetricsOnRouter:    cfg.MetricsListenAddr() == "",
		AuthFailuresPerMin: cfg.AuthFailuresPerMinute,
	}
	// Validated with the rest of the configuration.
	deps.TrustedProxies, _ = cfg.TrustedProxyPrefixes()
	if err := a.wireFeatures(&deps); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.wireOpsUI(&deps); err != nil {
		a.Close()
		return nil, err
	}
	a.handler, a.routes = httpapi.Build(deps)
	return a, nil
}

func (a *App) migrate(ctx context.Context) error {
	m, err := store.NewMigrator(a.pool)
	if err != nil {
		return err
	}
	defer m.Close()
	if a.cfg.MigrateOnStart {
		return m.Up(ctx)
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("database schema is behind this binary: run `gateway migrate up` or set MIGRATE_ON_START=true")
	}
	return nil
}

// Handler is the HTTP API.
func (a *App) Handler() http.Handler { return a.handler }

// Routes lists every route with its scope.
func (a *App) Routes() []httpapi.Route { return a.routes }

// Messages is the instance's send service.
func (a *App) Messages() *messaging.Service { return a.messages }

// Pool is the instance's Postgres pool.
func (a *App) Pool() *pgxpool.Pool { return a.pool }

// Keys manages API keys.
func (a *App) Keys() *apikey.Service { return a.keys }

// Metrics is the instance's registry of collectors.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// Start launches background work (cron jobs); Close stops it.
func (a *App) Start(ctx context.Context) error {
	for _, s := range a.starters {
		if err := s(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops background work and closes the pool last. It begins the
// shutdown if Serve's context has not ended yet, so its steps share the
// deadline counted from the stop signal when there was one.
func (a *App) Close() {
	a.beginShutdown()
	a.cancelBackground()
	a.background.Wait()
	for i := len(a.stoppers) - 1; i >= 0; i-- {
		a.stoppers[i]()
	}
	a.stoppers = nil
	a.stop.cancel()
	a.pool.Close()
}

// ServeMetrics answers GET /metrics on ln (the METRICS_ADDR listener) until
// ctx is done. It takes no key: keep the listener on loopback or a private
// network.
func (a *App) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", httpapi.MetricsHandler(a.metrics))
	return serveUntil(ctx, ln, &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}, func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(a.beginShutdown(), 5*time.Second)
	}, "metrics")
}

// Serve answers HTTP on ln until ctx is done, then stops taking requests,
// drains in-flight ones until the shutdown deadline (SHUTDOWN_TIMEOUT from
// then), and returns. The job queue starts stopping at the same moment.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      a.cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	return serveUntil(ctx, ln, srv, func() (context.Context, context.CancelFunc) {
		sctx := a.beginShutdown()
		a.observe(sctx, "http")
		return context.WithCancel(sctx)
	}, "http")
}

// serveUntil runs srv on ln until ctx is done, then shuts it down, letting
// in-flight requests finish until the context that drain returns ends.
func serveUntil(ctx context.Context, ln net.Listener, srv *http.Server, drain func() (context.Context, context.CancelFunc), name string) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := drain()
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("%s shutdown: %w", name, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
