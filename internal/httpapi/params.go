package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/linegate/linegate/internal/apperr"
)

// escapedRouting makes chi match on the path as it came over the wire, so
// every path parameter arrives still escaped and pathParam decodes it
// exactly once. Left alone, chi matches on the already decoded URL.Path
// whenever Go can re-derive the raw form, and a second decode would turn
// "bo%2562" into "bob".
func escapedRouting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePath == "" {
			rc.RoutePath = r.URL.EscapedPath()
		}
		next.ServeHTTP(w, r)
	})
}

// pathParam is a path parameter with its escapes undone once (handles carry
// + and @, user refs may carry anything). A malformed escape stays as sent,
// and validation refuses it.
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

func userRefParam(r *http.Request) string { return pathParam(r, "user_ref") }

// pathID is a numeric id path parameter; anything else names no resource.
func pathID(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(pathParam(r, name), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.New(apperr.NotFound, "not_found", name+" must be a positive integer")
	}
	return n, nil
}
