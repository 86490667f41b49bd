package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/linegate/linegate/internal/apperr"
)

// pathParam is a path parameter with its escapes undone (handles carry +
// and @, user refs may carry anything).
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
	n, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.New(apperr.NotFound, "not_found", name+" must be a positive integer")
	}
	return n, nil
}
