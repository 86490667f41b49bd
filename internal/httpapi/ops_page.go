package httpapi

import (
	_ "embed"
	"net/http"
)

// opsPage is the ops dashboard: a static page holding no data; it asks for
// an ops:read key and reads the same JSON endpoints as any API client.
//
//go:embed ops_page.html
var opsPage []byte

func (s *server) opsPageRoutes() []Route {
	return []Route{{"GET", "/ops", "", s.serveOpsPage}}
}

func (s *server) serveOpsPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(opsPage)
}
