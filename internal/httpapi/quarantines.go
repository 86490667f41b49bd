package httpapi

import "net/http"

func (s *server) listQuarantines(w http.ResponseWriter, r *http.Request) {
	qs, err := s.Limiter.Quarantines(r.Context())
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"quarantines": qs})
}

func (s *server) releaseQuarantine(w http.ResponseWriter, r *http.Request) {
	lineID, err := pathID(r, "line_id")
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	p, _ := PrincipalFrom(r.Context())
	q, err := s.Limiter.Release(r.Context(), lineID, pathParam(r, "handle"), p.Name)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, map[string]any{"released": q})
}
