package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/store"
)

// OpsSessionCookie names the dashboard's session cookie; CSRFHeader is the
// header every write made with it must carry the session's CSRF token in.
const (
	OpsSessionCookie = "lg_ops"
	CSRFHeader       = "X-CSRF-Token"
)

// DefaultOpsSessionTTL is how long a dashboard sign-in lasts.
const DefaultOpsSessionTTL = 12 * time.Hour

// OpsSessionConfig tunes OpsSessions.
type OpsSessionConfig struct {
	TTL time.Duration
	Now func() time.Time
}

// OpsSessions keeps the dashboard's sign-ins in Postgres, so that expiry
// and sign-out hold on every replica and survive a restart.
type OpsSessions struct {
	pool *pgxpool.Pool
	q    *store.Queries
	cfg  OpsSessionConfig
}

// NewOpsSessions builds the session store.
func NewOpsSessions(pool *pgxpool.Pool, cfg OpsSessionConfig) *OpsSessions {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultOpsSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &OpsSessions{pool: pool, q: store.New(), cfg: cfg}
}

// OpsSession is a live sign-in.
type OpsSession struct {
	Principal apikey.Principal
	CSRF      string
	ExpiresAt time.Time
}

// Create starts a session acting as p; token goes into the cookie and is
// not kept.
func (o *OpsSessions) Create(ctx context.Context, p apikey.Principal) (token string, sess OpsSession, err error) {
	if token, err = randomToken(); err != nil {
		return "", OpsSession{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", OpsSession{}, err
	}
	now := o.cfg.Now()
	sess = OpsSession{Principal: p, CSRF: csrf, ExpiresAt: now.Add(o.cfg.TTL)}
	h := sha256.Sum256([]byte(token))
	if _, err := o.q.OpsSessionCreate(ctx, o.pool, store.OpsSessionCreateParams{
		TokenHash: h[:], CsrfToken: csrf, ApiKeyID: p.KeyID, Now: now, ExpiresAt: sess.ExpiresAt,
	}); err != nil {
		return "", OpsSession{}, fmt.Errorf("create ops session: %w", err)
	}
	// Sign-ins are rare: clearing out the long-ended ones here keeps the
	// table small without a job of its own.
	if _, err := o.q.OpsSessionPrune(ctx, o.pool, now.Add(-24*time.Hour)); err != nil {
		return "", OpsSession{}, fmt.Errorf("prune ops sessions: %w", err)
	}
	return token, sess, nil
}

// Lookup returns the live session of token: 401 when it is unknown,
// expired or signed out, or its key was revoked.
func (o *OpsSessions) Lookup(ctx context.Context, token string) (OpsSession, error) {
	h := sha256.Sum256([]byte(token))
	row, err := o.q.OpsSessionGet(ctx, o.pool, store.OpsSessionGetParams{TokenHash: h[:], Now: o.cfg.Now()})
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return OpsSession{}, apperr.New(apperr.Unauthorized, "session_expired", "the ops session expired or was signed out; sign in again")
	}
	if err != nil {
		return OpsSession{}, fmt.Errorf("read ops session: %w", err)
	}
	return OpsSession{
		Principal: apikey.Principal{KeyID: row.ApiKeyID, Name: row.KeyName, Scopes: row.Scopes},
		CSRF:      row.CsrfToken, ExpiresAt: row.ExpiresAt,
	}, nil
}

// Revoke ends the session of token.
func (o *OpsSessions) Revoke(ctx context.Context, token string) error {
	h := sha256.Sum256([]byte(token))
	if _, err := o.q.OpsSessionRevoke(ctx, o.pool, store.OpsSessionRevokeParams{TokenHash: h[:], Now: o.cfg.Now()}); err != nil {
		return fmt.Errorf("revoke ops session: %w", err)
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// opsSessionRoutes sign the dashboard in and out. They are public routes:
// the key is in the sign-in's body and the session in its cookie.
func (s *server) opsSessionRoutes() []Route {
	if s.Sessions == nil {
		return nil
	}
	return []Route{
		{"POST", "/ops/session", "", s.signIn},
		{"GET", "/ops/session", "", s.currentSession},
		{"DELETE", "/ops/session", "", s.signOut},
	}
}

type signInRequest struct {
	Key string `json:"key"`
}

type sessionView struct {
	SignedIn  bool      `json:"signed_in"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func viewOf(sess OpsSession) sessionView {
	return sessionView{SignedIn: true, Name: sess.Principal.Name, Scopes: sess.Principal.Scopes, CSRFToken: sess.CSRF, ExpiresAt: sess.ExpiresAt}
}

// signIn trades an ops key for a session cookie. Only the page's own
// origin may sign in, so no other site can sign a browser in to a session
// of its choosing.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	if err := s.sameOrigin(r, true); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	var req signInRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	p, err := s.authenticate(r, strings.TrimSpace(req.Key)) // throttled like a bearer key
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if !p.Has(apikey.ScopeOpsRead) {
		s.resp.Error(w, r, apperr.New(apperr.Forbidden, "forbidden", "API key lacks the "+apikey.ScopeOpsRead+" scope"))
		return
	}
	token, sess, err := s.Sessions.Create(r.Context(), p)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // Secure whenever served over https; a plain-http gateway would never get it back
		Name: OpsSessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overHTTPS(r),
	})
	w.Header().Set("Cache-Control", "no-store")
	s.resp.JSON(w, http.StatusCreated, viewOf(sess))
}

// currentSession tells the page whether it is signed in (signed_in false
// when not: a page without a session is no error), and hands it the CSRF
// token again after a reload (the page keeps it in memory only).
func (s *server) currentSession(w http.ResponseWriter, r *http.Request) {
	if err := s.sameOrigin(r, false); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	sess, err := s.sessionOf(r)
	if ae, ok := apperr.As(err); ok && ae.Kind == apperr.Unauthorized {
		s.resp.JSON(w, http.StatusOK, sessionView{Scopes: []string{}})
		return
	}
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	s.resp.JSON(w, http.StatusOK, viewOf(sess))
}

// signOut revokes the session server-side and clears the cookie.
func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	if err := s.sameOrigin(r, true); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	c, err := r.Cookie(OpsSessionCookie)
	if err != nil {
		s.resp.Error(w, r, apperr.New(apperr.Unauthorized, "unauthorized", "not signed in"))
		return
	}
	sess, err := s.Sessions.Lookup(r.Context(), c.Value)
	if err == nil && !csrfOK(r, sess) {
		err = apperr.New(apperr.Forbidden, "csrf", "missing or wrong "+CSRFHeader+" header")
	}
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if err := s.Sessions.Revoke(r.Context(), c.Value); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // Secure whenever served over https; a plain-http gateway would never get it back
		Name: OpsSessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overHTTPS(r),
	})
	w.WriteHeader(http.StatusNoContent)
}

// sessionOf is the live session of the request's cookie.
func (s *server) sessionOf(r *http.Request) (OpsSession, error) {
	c, err := r.Cookie(OpsSessionCookie)
	if err != nil || c.Value == "" {
		return OpsSession{}, apperr.New(apperr.Unauthorized, "unauthorized", "not signed in")
	}
	return s.Sessions.Lookup(r.Context(), c.Value)
}

// hasOpsSession reports whether a request without a bearer key comes with
// a dashboard session cookie, for a route the cookie may open: the ops
// routes only, never sending or signups.
func (s *server) hasOpsSession(r *http.Request, scope string) bool {
	if s.Sessions == nil || (scope != apikey.ScopeOpsRead && scope != apikey.ScopeOpsWrite) {
		return false
	}
	c, err := r.Cookie(OpsSessionCookie)
	return err == nil && c.Value != ""
}

// serveWithSession admits a request on its session cookie: from the page's
// own origin only, with the session's CSRF token on writes, and with the
// session key's scopes.
func (s *server) serveWithSession(w http.ResponseWriter, r *http.Request, next http.Handler, scope string) {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if err := s.sameOrigin(r, write); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	sess, err := s.sessionOf(r)
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	if write && !csrfOK(r, sess) {
		s.resp.Error(w, r, apperr.New(apperr.Forbidden, "csrf", "missing or wrong "+CSRFHeader+" header"))
		return
	}
	if !sess.Principal.Has(scope) {
		s.resp.Error(w, r, apperr.New(apperr.Forbidden, "forbidden", "API key lacks the "+scope+" scope"))
		return
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, sess.Principal)))
}

func csrfOK(r *http.Request, sess OpsSession) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// sameOrigin refuses a request a browser marks as coming from another site
// (Sec-Fetch-Site, or an Origin that is neither this host nor PUBLIC_URL's
// origin: a proxy may pass requests on with its upstream's Host).
// SameSite=Strict already keeps the cookie off cross-site requests; this
// holds also for a browser that ignores it. A write must carry one of the
// two headers, which every browser sends on a fetch POST, PATCH or DELETE.
func (s *server) sameOrigin(r *http.Request, write bool) error {
	cross := apperr.New(apperr.Forbidden, "cross_site", "the ops session is accepted from the ops page only")
	site, origin := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")
	if site != "" && site != "same-origin" && site != "none" {
		return cross
	}
	if origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, r.Host) && !s.isPublicOrigin(u) {
			return cross
		}
	}
	if write && site == "" && origin == "" {
		return cross
	}
	return nil
}

// isPublicOrigin reports whether u is the origin of PUBLIC_URL, where the
// page is served.
func (s *server) isPublicOrigin(u *url.URL) bool {
	pub, err := url.Parse(s.Signup.PublicURL)
	return err == nil && pub.Host != "" && strings.EqualFold(u.Scheme, pub.Scheme) && strings.EqualFold(u.Host, pub.Host)
}

// overHTTPS reports whether the browser reached the gateway over https:
// directly, or through a proxy in front of a gateway whose public URL is
// https.
func (s *server) overHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.Signup.PublicURL, "https://")
}
