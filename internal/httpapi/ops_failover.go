package httpapi

import (
	"net/http"
	"strconv"

	"github.com/linegate/linegate/internal/apperr"
)

// maxFailoverPage bounds GET /v1/ops/failovers.
const maxFailoverPage = 200

// failoverLine moves a line's users off it now (ledger reason "ops":
// recovery does not bring them back).
func (s *server) failoverLine(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	res, err := s.Health.Failover(r.Context(), id)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, res)
}

// listFailovers is the failover history, newest first; before (a failover
// id) pages back.
func (s *server) listFailovers(w http.ResponseWriter, r *http.Request) {
	limit, before := 50, int64(0)
	q := r.URL.Query()
	if raw := q.Get("limit"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v < 1 || v > maxFailoverPage {
			s.resp.Error(w, r, apperr.Field("limit", "must be an integer from 1 to "+strconv.Itoa(maxFailoverPage)))
			return
		}
		limit = v
	}
	if raw := q.Get("before"); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v < 1 {
			s.resp.Error(w, r, apperr.Field("before", "must be a positive failover id"))
			return
		}
		before = v
	}
	fs, err := s.Health.Failovers(r.Context(), before, limit)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"failovers": fs})
}
