package httpapi

import (
	"context"
	"net/http"
	"time"
)

// Pinger is what readiness checks: Postgres.
type Pinger interface {
	Ping(ctx context.Context) error
}

// healthz is liveness: the process answers; it touches nothing.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	s.resp.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: Postgres answers within a second.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.resp.JSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable",
			"checks": map[string]string{"postgres": "unreachable"},
		})
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": map[string]string{"postgres": "ok"}})
}
