package httpapi

import "net/http"

// healthz is liveness: the process answers; it touches nothing.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	s.resp.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: Postgres answers within a second.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	rep := s.probe.Ready(r.Context())
	status := http.StatusOK
	if !rep.Ready {
		status = http.StatusServiceUnavailable
	}
	s.resp.JSON(w, status, rep)
}
