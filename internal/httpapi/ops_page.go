package httpapi

import (
	"embed"
	"net/http"
	"path"

	"github.com/linegate/linegate/internal/apperr"
)

// opsUI is the ops dashboard: static files holding no data. The page signs
// in with an ops key for a session cookie and reads the same JSON endpoints
// as any API client.
//
//go:embed opsui/index.html opsui/app.js opsui/app.css
var opsUI embed.FS

// opsAssets are the files under /ops/static/ and their types.
var opsAssets = map[string]string{
	"app.js":  "text/javascript; charset=utf-8",
	"app.css": "text/css; charset=utf-8",
}

// opsCSP lets the page load its own files and talk to its own origin only.
const opsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (s *server) opsPageRoutes() []Route {
	return []Route{
		{"GET", "/ops", "", s.serveOpsPage},
		{"GET", "/ops/static/{name}", "", s.serveOpsAsset},
	}
}

func (s *server) serveOpsPage(w http.ResponseWriter, r *http.Request) {
	s.writeOpsFile(w, r, "index.html", "text/html; charset=utf-8")
}

func (s *server) serveOpsAsset(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	ctype, ok := opsAssets[name]
	if !ok {
		s.resp.Error(w, r, apperr.New(apperr.NotFound, "not_found", "no such file"))
		return
	}
	s.writeOpsFile(w, r, name, ctype)
}

func (s *server) writeOpsFile(w http.ResponseWriter, r *http.Request, name, ctype string) {
	b, err := opsUI.ReadFile(path.Join("opsui", name))
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", opsCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b) //nolint:gosec // an embedded file of the binary, no request data
}
