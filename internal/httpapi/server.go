// Package httpapi is Linegate's HTTP surface: the chi router, middleware,
// auth by scope, the JSON error envelope, and the handlers that translate
// HTTP to the domain services.
package httpapi

import (
	"cmp"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/lines"
	"github.com/linegate/linegate/internal/messaging"
	"github.com/linegate/linegate/internal/metrics"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/router"
	"github.com/linegate/linegate/internal/webhooks"
)

// Deps are what the handlers need. Feature services are added as fields.
type Deps struct {
	Logger         *slog.Logger
	Metrics        *metrics.Metrics
	DB             health.Pinger
	Auth           Authenticator
	Keys           *apikey.Service
	MaxBodyBytes   int64
	RequestTimeout time.Duration

	// Line pool, assignment and signups.
	Lines  *lines.Service
	Router *router.Service
	Signup SignupConfig

	// Sending, limits and idempotency.
	Messages *messaging.Service
	Limiter  *ratelimit.Limiter

	// Linq webhook intake and events to product services.
	Webhooks            *webhooks.Service
	WebhookMaxBodyBytes int64
	Events              *events.Service

	// Line health, failover and recovery.
	Health *health.Service

	// The ops dashboard's sign-ins, and River's web UI it mounts under
	// /ops/jobs (nil: not mounted).
	Sessions *OpsSessions
	JobsUI   http.Handler

	// Exposure: /metrics on this router behind ops:read instead of on a
	// listener of its own; the proxies whose X-Forwarded-For names the
	// client; failed key checks a client may make a minute (0: 30).
	MetricsOnRouter    bool
	TrustedProxies     []netip.Prefix
	AuthFailuresPerMin int
}

// Route is one endpoint: Scope "" marks a public route.
type Route struct {
	Method  string
	Pattern string
	Scope   string
	Handler http.HandlerFunc
}

type server struct {
	Deps
	logger *slog.Logger
	resp   Responder
	auth   Authenticator
	probe  *health.Probe
	guard  *ipLimiter // failed API key checks per client
}

// New builds the router.
func New(d Deps) http.Handler {
	h, _ := Build(d)
	return h
}

// Build builds the router and returns it with its route table (each route's
// scope), which the auth and OpenAPI tests walk.
func Build(d Deps) (http.Handler, []Route) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 1 << 20
	}
	s := &server{
		Deps:   d,
		logger: d.Logger,
		auth:   d.Auth,
		probe:  health.NewProbe(d.DB, 0),
		guard:  newIPLimiter(cmp.Or(d.AuthFailuresPerMin, 30), d.Signup.clock()),
		resp:   Responder{Logger: d.Logger, Count: func(code string) { d.Metrics.HTTPErrors.WithLabelValues(code).Inc() }},
	}
	r := chi.NewRouter()
	r.Use(escapedRouting, requestID, observe(d.Metrics, d.Logger), s.recoverer, s.limitBody(d.MaxBodyBytes), deadline(d.RequestTimeout))
	r.NotFound(s.noRoute)
	r.MethodNotAllowed(s.methodNotAllowed)
	// The public signup links are phones' pages: under /s/ a path that
	// names no link is the link's not-found page, not an API error.
	// (A wrong method stays the API's 405: a mounted router inherits it.)
	links := chi.NewRouter()
	links.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.noRoute(w, r)
			return
		}
		linkNotFound(w)
	})
	routes := s.routes()
	for _, rt := range routes {
		h := http.Handler(rt.Handler)
		if rt.Scope != "" {
			h = s.requireScope(rt.Scope)(h)
		}
		if sub, ok := strings.CutPrefix(rt.Pattern, linksPrefix); ok {
			links.Method(rt.Method, "/"+sub, h)
			continue
		}
		r.Method(rt.Method, rt.Pattern, h)
	}
	r.Mount(strings.TrimSuffix(linksPrefix, "/"), links)
	s.mountJobsUI(r)
	return r, routes
}

// linksPrefix is where the public signup links live.
const linksPrefix = "/s/"

func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	s.resp.Error(w, r, apperr.New(apperr.NotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path))
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.resp.Error(w, r, apperr.New(apperr.MethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed here"))
}

// routes is the whole API. Each feature contributes its own slice.
func (s *server) routes() []Route {
	rs := []Route{
		{"GET", "/healthz", "", s.healthz},
		{"GET", "/readyz", "", s.readyz},
		// Load balancers often probe with HEAD: the same answer, no body.
		{"HEAD", "/healthz", "", s.healthz},
		{"HEAD", "/readyz", "", s.readyz},
	}
	rs = append(rs, s.metricsRoutes()...)
	rs = append(rs, s.apiKeyRoutes()...)
	rs = append(rs, s.opsPageRoutes()...)
	rs = append(rs, s.poolRoutes()...)
	rs = append(rs, s.messageRoutes()...)
	rs = append(rs, s.webhookRoutes()...)
	rs = append(rs, s.eventRoutes()...)
	rs = append(rs, s.healthRoutes()...)
	rs = append(rs, s.opsSessionRoutes()...)
	rs = append(rs, s.capacityRoutes()...)
	return rs
}
