package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/linegate/linegate/internal/apikey"
	"github.com/linegate/linegate/internal/deeplink"
	"github.com/linegate/linegate/internal/router"
)

// SignupConfig is what the signup and public short-link handlers need
// beyond the services.
type SignupConfig struct {
	// PublicURL is the base of short links (no trailing slash needed).
	PublicURL string
	// CompanyName goes on the vCard and the desktop landing page.
	CompanyName string
	// PublicRatePerMin is each client IP's budget of public requests per
	// minute (default 120).
	PublicRatePerMin int
	// Now is the rate limiter's clock (default time.Now).
	Now func() time.Time
}

// poolRoutes are the line pool's routes: signups, users, ops on lines and
// the public short links. They exist only when the services are wired.
func (s *server) poolRoutes() []Route {
	if s.Router == nil || s.Lines == nil {
		return nil
	}
	pub := s.publicHandlers()
	return []Route{
		{"POST", "/v1/signups", apikey.ScopeSignup, s.createSignup},
		{"PUT", "/v1/users/{user_ref}", apikey.ScopeSignup, s.importUser},
		{"GET", "/v1/users/{user_ref}", apikey.ScopeSignup, s.getUser},
		{"DELETE", "/v1/users/{user_ref}", apikey.ScopeSignup, s.deleteUser},
		{"GET", "/v1/ops/users", apikey.ScopeOpsRead, s.findUser},
		{"GET", "/v1/ops/users/{user_ref}", apikey.ScopeOpsRead, s.getUser},
		{"POST", "/v1/ops/users/{user_ref}/reassign", apikey.ScopeOpsWrite, s.reassignUser},
		{"GET", "/v1/ops/lines", apikey.ScopeOpsRead, s.listLines},
		{"PATCH", "/v1/ops/lines/{id}", apikey.ScopeOpsWrite, s.patchLine},
		{"GET", "/v1/ops/lines/{id}/users", apikey.ScopeOpsRead, s.lineUsers},
		{"POST", "/v1/ops/lines/sync", apikey.ScopeOpsWrite, s.syncLines},
		{"GET", "/v1/ops/rotation", apikey.ScopeOpsRead, s.rotation},
		{"GET", "/s/{token}", "", pub.shortLink},
		{"GET", "/s/{token}/contact.vcf", "", pub.vcard},
		{"GET", "/s/{token}/qr.png", "", pub.qr},
		// Link previews and checkers ask with HEAD first.
		{"HEAD", "/s/{token}", "", pub.shortLink},
		{"HEAD", "/s/{token}/contact.vcf", "", pub.vcard},
		{"HEAD", "/s/{token}/qr.png", "", pub.qr},
	}
}

type signupRequest struct {
	UserRef     string `json:"user_ref"`
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	PrefillText string `json:"prefill_text"`
}

type signupLinks struct {
	IOS     string `json:"ios"`
	Android string `json:"android"`
	Short   string `json:"short"`
}

type signupResponse struct {
	UserRef     string           `json:"user_ref"`
	Handle      *string          `json:"handle"`
	Code        string           `json:"code"`
	Line        router.LineRef   `json:"line"`
	CurrentLine router.LineRef   `json:"current_line"`
	Reason      string           `json:"reason"`
	Backups     []router.LineRef `json:"backups"`
	Body        string           `json:"body"`
	Links       signupLinks      `json:"links"`
	VCardURL    string           `json:"vcard_url"`
	QRURL       string           `json:"qr_url"`
	ExpiresAt   time.Time        `json:"expires_at"`
}

// shortURL is the public link of a token.
func (s *server) shortURL(token string) string {
	return strings.TrimRight(s.Signup.PublicURL, "/") + linksPrefix + token
}

// signupView renders an assignment; the sms: links go to the line the user
// should text now (the home line, unless they were failed over).
func (s *server) signupView(a router.Assignment) signupResponse {
	short := s.shortURL(a.Token)
	out := signupResponse{
		UserRef: a.UserRef, Code: a.Code, Line: a.Home, CurrentLine: a.Current, Reason: a.Reason,
		Backups: a.Backups, Body: a.Body, ExpiresAt: a.ExpiresAt.UTC(),
		Links: signupLinks{
			IOS:     deeplink.IOSLink(a.Current.Number, a.Body),
			Android: deeplink.AndroidLink(a.Current.Number, a.Body),
			Short:   short,
		},
		VCardURL: short + "/contact.vcf",
		QRURL:    short + "/qr.png",
	}
	if a.Handle != "" {
		h := a.Handle
		out.Handle = &h
	}
	if out.Backups == nil {
		out.Backups = []router.LineRef{}
	}
	return out
}

func (s *server) createSignup(w http.ResponseWriter, r *http.Request) {
	var req signupRequest
	if err := Decode(r, &req); err != nil {
		s.resp.Error(w, r, err)
		return
	}
	a, err := s.Router.Assign(r.Context(), router.SignupRequest{
		UserRef: req.UserRef, Handle: req.Handle, DisplayName: req.DisplayName, PrefillText: req.PrefillText,
	})
	s.writeAssignment(w, r, a, err)
}

// writeAssignment answers a signup or import: 201 when the user was assigned
// now, 200 when the user_ref already had lines.
func (s *server) writeAssignment(w http.ResponseWriter, r *http.Request, a router.Assignment, err error) {
	if err != nil {
		s.resp.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if a.Created {
		status = http.StatusCreated
	}
	s.resp.JSON(w, status, s.signupView(a))
}
