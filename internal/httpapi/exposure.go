package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/metrics"
)

// MetricsHandler serves the Prometheus metrics of m, for the metrics
// listener (or the main router when MetricsOnRouter is set).
func MetricsHandler(m *metrics.Metrics) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// metricsRoutes puts /metrics on this router, behind ops:read, only when it
// has no listener of its own: metrics name routes, lines and volumes.
func (s *server) metricsRoutes() []Route {
	if !s.MetricsOnRouter {
		return nil
	}
	return []Route{{"GET", "/metrics", apikey.ScopeOpsRead, MetricsHandler(s.Metrics).ServeHTTP}}
}

// clientIP is the address a request comes from: the connection's peer, or,
// when the peer is a trusted proxy, the nearest X-Forwarded-For hop that is
// not one. Hops left of that were written by the client and prove nothing.
func (s *server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr := peer.Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A trusted proxy writes addresses; anything else came from
			// the client, so the last trusted hop is what is known.
			break
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

func (s *server) trusted(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authenticate checks a bearer key unless its client has failed too many
// checks lately: then it answers 429 without asking Postgres, so a loop
// guessing keys costs no query per try. Only failures take tokens.
func (s *server) authenticate(r *http.Request, key string) (apikey.Principal, error) {
	ip := s.clientIP(r)
	if wait, ok := s.guard.peek(ip); !ok {
		s.Metrics.HTTPErrors.WithLabelValues("auth_throttled").Inc()
		return apikey.Principal{}, apperr.Limited("too_many_auth_failures",
			"too many failed API key checks from this address", wait)
	}
	p, err := s.auth.Authenticate(r.Context(), key)
	if ae, ok := apperr.As(err); ok && ae.Kind == apperr.Unauthorized {
		s.guard.take(ip)
	}
	return p, err
}

// peek says whether ip has a token left, without taking it, or how long
// until it has one.
func (l *ipLimiter) peek(ip string) (time.Duration, bool) {
	ip = clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		return 0, true
	}
	now := l.now()
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		return 0, true
	}
	return max(time.Duration((1-b.tokens)/l.rate*float64(time.Second)), time.Second), false
}

// take spends one of ip's tokens, if it has one.
func (l *ipLimiter) take(ip string) { _, _ = l.allow(ip) }

// clock is the rate limiters' clock.
func (c SignupConfig) clock() func() time.Time {
	if c.Now == nil {
		return time.Now
	}
	return c.Now
}
