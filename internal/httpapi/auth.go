package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
)

// Authenticator checks a bearer key.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (apikey.Principal, error)
}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (apikey.Principal, bool) {
	p, ok := ctx.Value(principalKey).(apikey.Principal)
	return p, ok
}

// requireScope lets a request through only with a valid key carrying scope:
// no or bad key → 401, key without the scope → 403.
func (s *server) requireScope(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, ok := bearerKey(r.Header.Get("Authorization"))
			if !ok && s.hasOpsSession(r, scope) {
				s.serveWithSession(w, r, next, scope)
				return
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="linegate"`)
				s.resp.Error(w, r, apperr.New(apperr.Unauthorized, "unauthorized", "missing bearer API key"))
				return
			}
			p, err := s.authenticate(r, key)
			if err != nil {
				if ae, ok := apperr.As(err); ok && ae.Kind == apperr.Unauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="linegate", error="invalid_token"`)
				}
				s.resp.Error(w, r, err)
				return
			}
			if !p.Has(scope) {
				s.resp.Error(w, r, apperr.New(apperr.Forbidden, "forbidden", "API key lacks the "+scope+" scope"))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
		})
	}
}

// bearerKey takes the key out of an Authorization header. The scheme is
// case-insensitive (RFC 9110 §11.1), so "bearer" and "BEARER" work too.
func bearerKey(header string) (string, bool) {
	scheme, key, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != ""
}
