package httpapi

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/deeplink"
	"github.com/linegate/linegate/internal/router"
)

// QR code sizes served at /s/{token}/qr.png (?size= within bounds).
const (
	defaultQRSize = 512
	minQRSize     = 128
	maxQRSize     = 1024
)

type publicHandlers struct {
	s     *server
	limit *ipLimiter
}

func (s *server) publicHandlers() *publicHandlers {
	perMin := cmp.Or(s.Signup.PublicRatePerMin, 120)
	now := s.Signup.Now
	if now == nil {
		now = time.Now
	}
	return &publicHandlers{s: s, limit: newIPLimiter(perMin, now)}
}

// resolve applies the per-IP limit and finds the link; on failure it has
// answered already, with a page a phone can show (fail).
func (p *publicHandlers) resolve(w http.ResponseWriter, r *http.Request) (router.PublicLink, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Robots-Tag", "noindex")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if wait, ok := p.limit.allow(p.s.clientIP(r)); !ok {
		p.fail(w, r, apperr.Limited("rate_limited", "too many requests from this address", wait))
		return router.PublicLink{}, false
	}
	link, err := p.s.Router.Link(r.Context(), pathParam(r, "token"))
	if err != nil {
		p.fail(w, r, err)
		return router.PublicLink{}, false
	}
	return link, true
}

// fail answers a link that cannot be served with a page, never the API's
// JSON: the people who open these links hold a phone, not a client. An
// unknown link gets the generic not-found page; a refused or failed one the
// try-again page, with the status (and Retry-After) the API would give.
func (p *publicHandlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ae, ok := apperr.As(err); ok && ae.Kind == apperr.NotFound {
		linkNotFound(w)
		return
	}
	status, _ := p.s.resp.report(w, r, err)
	writePage(w, status, deeplink.TryLaterHTML)
}

// shortLink sends phones straight into Messages with the body prefilled and
// shows desktops a page with both links and the QR code.
func (p *publicHandlers) shortLink(w http.ResponseWriter, r *http.Request) {
	link, ok := p.resolve(w, r)
	if !ok {
		return
	}
	w.Header().Set("Vary", "User-Agent")
	switch deeplink.UserAgentPlatform(r.UserAgent()) {
	case deeplink.PlatformIOS:
		http.Redirect(w, r, deeplink.IOSLink(link.Current, link.Body), http.StatusFound)
		return
	case deeplink.PlatformAndroid:
		http.Redirect(w, r, deeplink.AndroidLink(link.Current, link.Body), http.StatusFound)
		return
	}
	short := p.s.shortURL(link.Token)
	var buf bytes.Buffer
	err := deeplink.LandingHTML(&buf, deeplink.LandingPage{
		Company: p.s.Signup.CompanyName, Number: link.Current,
		IOSLink: deeplink.IOSLink(link.Current, link.Body), AndroidLink: deeplink.AndroidLink(link.Current, link.Body),
		QRURL: short + "/qr.png", VCardURL: short + "/contact.vcf",
	})
	if err != nil {
		p.fail(w, r, fmt.Errorf("render landing page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = buf.WriteTo(w)
}

// vcard is the contact card: the company, the home line as the preferred
// TEL, then every backup.
func (p *publicHandlers) vcard(w http.ResponseWriter, r *http.Request) {
	link, ok := p.resolve(w, r)
	if !ok {
		return
	}
	c := deeplink.Contact{Company: p.s.Signup.CompanyName}
	if len(link.Numbers) > 0 {
		c.HomeLine, c.Backups = link.Numbers[0], link.Numbers[1:]
	} else {
		c.HomeLine = link.Current
	}
	card := deeplink.VCard(c)
	w.Header().Set("Content-Type", "text/vcard; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+vcardFilename(p.s.Signup.CompanyName)+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(card)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(card)
}

// vcardFilename makes a safe ASCII file name from the company name.
func vcardFilename(company string) string {
	var b strings.Builder
	dash := false
	for _, c := range company {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "contact"
	}
	return name + ".vcf"
}

// qr is the short link as a QR code PNG.
func (p *publicHandlers) qr(w http.ResponseWriter, r *http.Request) {
	// The link first: a phone that opens a dead link gets its page,
	// whatever the size asked.
	link, ok := p.resolve(w, r)
	if !ok {
		return
	}
	size := defaultQRSize
	if raw := r.URL.Query().Get("size"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil || v < minQRSize || v > maxQRSize {
			p.s.resp.Error(w, r, apperr.Field("size", fmt.Sprintf("must be an integer from %d to %d", minQRSize, maxQRSize)))
			return
		}
		size = v
	}
	png, err := deeplink.QRPNG(p.s.shortURL(link.Token), size)
	if err != nil {
		p.fail(w, r, fmt.Errorf("render qr code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
}

// ipLimiter is a token bucket per client (clientKey), per instance: perMin requests
// a minute with a burst of a quarter of that (at least 5). It protects the
// database from scraping; tokens themselves are unguessable.
type ipLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxTrackedIPs bounds the limiter's memory; past it, buckets that have
// refilled (which carry no state worth keeping) are dropped.
const maxTrackedIPs = 50_000

func newIPLimiter(perMin int, now func() time.Time) *ipLimiter {
	return &ipLimiter{
		rate: float64(perMin) / 60, burst: math.Max(5, float64(perMin)/4), now: now,
		buckets: map[string]*bucket{},
	}
}

// allow takes a token for ip, or says how long until one is free.
func (l *ipLimiter) allow(ip string) (time.Duration, bool) {
	ip = clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxTrackedIPs {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[ip] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return max(wait, time.Second), false
}

// clientKey is the bucket of a client address: an IPv6 address's /64, the
// block one host or home is given and picks its addresses from at will,
// so a new address buys no new tokens; any other address as it is.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

func (l *ipLimiter) sweep(now time.Time) {
	for ip, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= maxTrackedIPs {
		clear(l.buckets) // under a flood, forgetting beats growing without bound
	}
}

// linkNotFound is the page a phone shows for a signup link that does not
// exist (or no longer does): HTML, never the API's JSON.
func linkNotFound(w http.ResponseWriter) {
	writePage(w, http.StatusNotFound, deeplink.NotFoundHTML)
}

// writePage answers status with a page of the public links, never cached.
func writePage(w http.ResponseWriter, status int, render func(io.Writer) error) {
	var buf bytes.Buffer
	_ = render(&buf)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
