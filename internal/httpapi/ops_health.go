package httpapi

import (
	"net/http"

	"github.com/linegate/linegate/internal/apikey"
)

// healthRoutes are line health and failover for ops.
func (s *server) healthRoutes() []Route {
	if s.Health == nil {
		return nil
	}
	return []Route{
		{"GET", "/v1/ops/health", apikey.ScopeOpsRead, s.poolHealth},
		{"POST", "/v1/ops/lines/{id}/failover", apikey.ScopeOpsWrite, s.failoverLine},
		{"POST", "/v1/ops/lines/{id}/recover", apikey.ScopeOpsWrite, s.recoverLine},
		{"GET", "/v1/ops/failovers", apikey.ScopeOpsRead, s.listFailovers},
	}
}

// poolHealth is every line's health state (with stale and held), the
// stranded users and the single-failure check.
func (s *server) poolHealth(w http.ResponseWriter, r *http.Request) {
	ph, err := s.Health.Pool(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, ph)
}

// recoverLine lets an ok line take its users back from the next recovery
// tick on, without the dwell, and ends a hold.
func (s *server) recoverLine(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if err := s.Health.RecoverNow(r.Context(), id); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"line_id": id, "recovering": true})
}
