package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
)

// mountJobsUI serves River's web UI (job queues: webhook processing, event
// deliveries) under /ops/jobs behind the dashboard's sign-in. It is a
// whole application of its own, mounted beside the route table rather than
// described in it.
func (s *server) mountJobsUI(r chi.Router) {
	if s.JobsUI == nil || s.Sessions == nil {
		return
	}
	h := s.jobsGate(s.JobsUI)
	r.Handle("/ops/jobs", h)
	r.Handle("/ops/jobs/*", h)
}

// jobsGate admits a signed-in session from the page's origin: ops:read to
// look, ops:write for anything else (retry, cancel, delete). River's UI
// cannot send the CSRF header, so its writes rest on SameSite=Strict and
// the same-origin check, which requires a browser's Origin or
// Sec-Fetch-Site on every write.
func (s *server) jobsGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		if err := s.sameOrigin(r, write); err != nil {
			s.resp.Error(w, r, err)
			return
		}
		sess, err := s.sessionOf(r)
		if err != nil {
			if !write && !strings.HasPrefix(r.URL.Path, "/ops/jobs/api/") {
				// A person opening the page: send them to sign in.
				http.Redirect(w, r, "/ops", http.StatusSeeOther)
				return
			}
			s.resp.Error(w, r, err)
			return
		}
		scope := apikey.ScopeOpsRead
		if write {
			scope = apikey.ScopeOpsWrite
		}
		if !sess.Principal.Has(scope) {
			s.resp.Error(w, r, apperr.New(apperr.Forbidden, "forbidden", "API key lacks the "+scope+" scope"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
