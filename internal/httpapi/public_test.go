package httpapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/testkit"
)

const (
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	uaAndroid = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
	uaDesktop = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

// get fetches a public path (no key) as the given client.
func (b *poolBundle) get(t *testing.T, path, ua, remote string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("User-Agent", ua)
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

// publicPath turns an absolute short-link URL into the path served here.
func publicPath(u string) string { return strings.TrimPrefix(u, poolPublicURL) }

func TestPublicLinks(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		*poolBundle
		signup signupAnswer
	}
	setup := func(t *testing.T, opts ...func(*poolOptions)) *testBundle {
		t.Helper()
		b := poolSetup(t, opts...)
		for i := range 4 {
			b.addLine(t, fmt.Sprintf("+1555010000%d", i))
		}
		return &testBundle{poolBundle: b, signup: b.signup(t, map[string]any{"user_ref": "u1", "prefill_text": "Hello & welcome"})}
	}

	t.Run("PhonesAreRedirectedByUserAgent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		body := "Hello%20%26%20welcome%20%5B" + b.signup.Code + "%5D"
		tests := []struct {
			name, ua, want string
		}{
			{"IPhone", uaIPhone, "sms:+15550100000&body=" + body},
			{"Android", uaAndroid, "sms:+15550100000?body=" + body},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := b.get(t, publicPath(b.signup.Links.Short), tt.ua, "")
				require.Equal(t, http.StatusFound, rec.Code)
				require.Equal(t, tt.want, rec.Header().Get("Location"))
				require.Equal(t, tt.want, map[string]string{"IPhone": b.signup.Links.IOS, "Android": b.signup.Links.Android}[tt.name])
			})
		}
	})

	t.Run("DesktopGetsPageWithBothLinksAndQR", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get(t, publicPath(b.signup.Links.Short), uaDesktop, "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
		page := rec.Body.String()
		require.Contains(t, page, "<h1>Text Acme, Inc.</h1>")
		var urls []string
		for _, m := range regexp.MustCompile(`\s(?:href|src)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
			urls = append(urls, html.UnescapeString(m[1]))
		}
		require.Equal(t, []string{b.signup.QRURL, b.signup.Links.IOS, b.signup.Links.Android, b.signup.VCardURL}, urls)
	})

	t.Run("VCardListsHomeFirstThenBackups", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get(t, publicPath(b.signup.VCardURL), uaIPhone, "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "text/vcard; charset=utf-8", rec.Header().Get("Content-Type"))
		require.Equal(t, `attachment; filename="Acme-Inc.vcf"`, rec.Header().Get("Content-Disposition"))
		card, err := parseVCardStrict(rec.Body.Bytes())
		require.NoError(t, err)
		require.Equal(t, "Acme, Inc.", card.FN)
		require.Equal(t, "Acme, Inc.", card.ORG)
		want := []string{b.signup.Line.Number}
		for _, bk := range b.signup.Backups {
			want = append(want, bk.Number)
		}
		require.Len(t, want, 3)
		require.Equal(t, want, card.Tels)
	})

	t.Run("QRDecodesToTheShortLink", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get(t, publicPath(b.signup.QRURL), uaDesktop, "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "image/png", rec.Header().Get("Content-Type"))
		img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
		require.NoError(t, err)
		require.Equal(t, 512, img.Bounds().Dx())
		require.Equal(t, b.signup.Links.Short, testkit.DecodeQR(t, img))
	})

	t.Run("HEADAnswersAsGETWithoutTheBody", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, path := range []string{publicPath(b.signup.Links.Short), publicPath(b.signup.VCardURL), publicPath(b.signup.QRURL)} {
			req := httptest.NewRequest(http.MethodHead, path, nil)
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code, path)
			require.Equal(t, b.get(t, path, "", "").Header().Get("Content-Type"), rec.Header().Get("Content-Type"), path)
		}
	})

	t.Run("UnknownOrExpiredTokenIsTheSame404Page", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		notFound := func(path string) string {
			t.Helper()
			rec := b.get(t, path, uaIPhone, "")
			require.Equal(t, http.StatusNotFound, rec.Code, path)
			require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Empty(t, rec.Header().Get("Location"))
			return rec.Body.String()
		}
		unknown := notFound("/s/AAAAAAAAAAAAAAAAAAAAAA")
		require.Equal(t, unknown, notFound("/s/not-a-token"))
		require.Equal(t, unknown, notFound("/s/AAAAAAAAAAAAAAAAAAAAAA/contact.vcf"))
		require.Equal(t, unknown, notFound(publicPath(b.signup.Links.Short)+"/"), "a trailing slash is a phone's page too")
		require.Equal(t, unknown, notFound("/s/"))
		require.NotContains(t, unknown, "+1555")

		b.clock.Advance(721 * time.Hour)
		require.Equal(t, unknown, notFound(publicPath(b.signup.Links.Short)))
		require.Equal(t, unknown, notFound(publicPath(b.signup.QRURL)))
	})

	t.Run("OtherMethodsGetTheAPIsJSONErrors", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tests := []struct {
			method, path string
			status       int
			code         string
		}{
			{http.MethodPost, publicPath(b.signup.Links.Short), http.StatusMethodNotAllowed, "method_not_allowed"},
			{http.MethodDelete, publicPath(b.signup.QRURL), http.StatusMethodNotAllowed, "method_not_allowed"},
			{http.MethodPost, "/s/AAAAAAAAAAAAAAAAAAAAAA/nothing", http.StatusNotFound, "not_found"},
		}
		for _, tt := range tests {
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			require.Equal(t, tt.status, rec.Code, tt.method+" "+tt.path)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"), tt.method+" "+tt.path)
			require.Contains(t, rec.Body.String(), `"code":"`+tt.code+`"`, tt.method+" "+tt.path)
		}
	})

	t.Run("CountedUnderTheRoutePatternNeverTheToken", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.Equal(t, http.StatusFound, b.get(t, publicPath(b.signup.Links.Short), uaIPhone, "").Code)
		require.Equal(t, http.StatusNotFound, b.get(t, "/s/AAAAAAAAAAAAAAAAAAAAAA/nothing", uaIPhone, "").Code)
		require.InDelta(t, 1, testutil.ToFloat64(b.metrics.HTTPRequests.WithLabelValues("GET", "/s/{token}", "302")), 0)
		routes := map[string]bool{}
		ch := make(chan prometheus.Metric, 16)
		go func() { b.metrics.HTTPRequests.Collect(ch); close(ch) }()
		for m := range ch {
			var pb dto.Metric
			require.NoError(t, m.Write(&pb))
			for _, l := range pb.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] = true
				}
			}
		}
		for r := range routes {
			require.NotContains(t, r, "AAAA", "a token in a label")
			require.NotContains(t, r, strings.TrimPrefix(publicPath(b.signup.Links.Short), "/s/"), "a token in a label")
		}
		require.Equal(t, map[string]bool{"/v1/signups": true, "/s/{token}": true, "/s/*": true}, routes,
			"the setup's signup, the link, and one pattern for the paths under /s/ that name no link")
	})

	t.Run("QRSizeOutOfBoundsIs422AfterTheLink", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, size := range []string{"5000", "127", "big"} {
			rec := b.get(t, publicPath(b.signup.QRURL)+"?size="+size, uaDesktop, "")
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, size)
			require.Contains(t, rec.Body.String(), `"field":"size"`, size)
		}
		rec := b.get(t, "/s/AAAAAAAAAAAAAAAAAAAAAA/qr.png?size=5000", uaIPhone, "")
		require.Equal(t, http.StatusNotFound, rec.Code, "a dead link is its page, whatever the size")
		require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	})

	t.Run("DatabaseOutOfReachGetsTheTryAgainPage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.pool.Close()
		for _, path := range []string{publicPath(b.signup.Links.Short), publicPath(b.signup.QRURL), publicPath(b.signup.Links.Short) + "/contact.vcf"} {
			rec := b.get(t, path, uaIPhone, "")
			require.GreaterOrEqual(t, rec.Code, 500, path)
			require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"), path)
			require.Contains(t, rec.Body.String(), "<h1>Please try again</h1>", path)
			require.Equal(t, "no-store", rec.Header().Get("Cache-Control"), path)
		}
	})

	t.Run("RateLimitedPerClientIP", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *poolOptions) { o.publicRate = 20 }) // burst 5
		path := publicPath(b.signup.Links.Short)
		for range 5 {
			require.Equal(t, http.StatusFound, b.get(t, path, uaIPhone, "198.51.100.7:5000").Code)
		}
		rec := b.get(t, path, uaIPhone, "198.51.100.7:6000")
		require.Equal(t, http.StatusTooManyRequests, rec.Code)
		require.Equal(t, "3", rec.Header().Get("Retry-After")) // one token every 3 s
		require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"), "a phone's page, not the API's JSON")
		require.Contains(t, rec.Body.String(), "<h1>Please try again</h1>")
		require.NotContains(t, rec.Body.String(), "+1555")
		// Forwarded headers do not buy a fresh bucket.
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "198.51.100.7:7000"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		fwd := httptest.NewRecorder()
		b.handler.ServeHTTP(fwd, req)
		require.Equal(t, http.StatusTooManyRequests, fwd.Code)
		// Another address is unaffected; time refills the bucket.
		require.Equal(t, http.StatusFound, b.get(t, path, uaIPhone, "198.51.100.8:5000").Code)
		b.clock.Advance(3 * time.Second)
		require.Equal(t, http.StatusFound, b.get(t, path, uaIPhone, "198.51.100.7:5000").Code)
	})

	t.Run("IPv6ClientsShareTheirSlash64", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *poolOptions) { o.publicRate = 20 }) // burst 5
		path := publicPath(b.signup.Links.Short)
		for i := range 5 {
			require.Equal(t, http.StatusFound, b.get(t, path, uaIPhone, fmt.Sprintf("[2001:db8:1:2::%x]:5000", i+1)).Code)
		}
		// One host picks any of its 2^64 addresses; a new one buys no tokens.
		require.Equal(t, http.StatusTooManyRequests, b.get(t, path, uaIPhone, "[2001:db8:1:2:ffff::9]:5000").Code)
		require.Equal(t, http.StatusFound, b.get(t, path, uaIPhone, "[2001:db8:1:3::1]:5000").Code)
	})
}

type strictCard struct {
	FN, ORG string
	Tels    []string
}

var vcardLine = regexp.MustCompile(`^([A-Z-]+)((?:;[A-Z]+=[A-Z]+(?:,[A-Z]+)*)*):(.*)$`)

// parseVCardStrict reads a vCard 3.0 and refuses anything off: bare CR or
// LF, long lines, unknown escapes, a PREF anywhere but on the first TEL, a
// property missing or repeated.
func parseVCardStrict(data []byte) (strictCard, error) {
	var c strictCard
	s := string(data)
	if !strings.HasSuffix(s, "\r\n") || strings.Count(s, "\n") != strings.Count(s, "\r\n") || strings.Count(s, "\r") != strings.Count(s, "\r\n") {
		return c, errors.New("line endings are not CRLF")
	}
	var logical []string
	for _, phys := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(phys) > 75 {
			return c, fmt.Errorf("line of %d octets", len(phys))
		}
		if strings.HasPrefix(phys, " ") {
			if len(logical) == 0 {
				return c, errors.New("continuation first")
			}
			logical[len(logical)-1] += phys[1:]
			continue
		}
		logical = append(logical, phys)
	}
	if len(logical) < 2 || logical[0] != "BEGIN:VCARD" || logical[1] != "VERSION:3.0" || logical[len(logical)-1] != "END:VCARD" {
		return c, errors.New("not framed as a vCard 3.0")
	}
	seen := map[string]int{}
	for _, l := range logical {
		m := vcardLine.FindStringSubmatch(l)
		if m == nil {
			return c, fmt.Errorf("malformed line %q", l)
		}
		seen[m[1]]++
		val, err := unescapeVCard(m[3])
		if err != nil {
			return c, err
		}
		switch m[1] {
		case "FN":
			c.FN = val
		case "ORG":
			c.ORG = val
		case "TEL":
			if strings.Contains(m[2], "PREF") != (len(c.Tels) == 0) {
				return c, errors.New("PREF is not on the first TEL alone")
			}
			c.Tels = append(c.Tels, val)
		}
	}
	for _, p := range []string{"BEGIN", "VERSION", "N", "FN", "ORG", "END"} {
		if seen[p] != 1 {
			return c, fmt.Errorf("%s appears %d times", p, seen[p])
		}
	}
	return c, nil
}

func unescapeVCard(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", errors.New("trailing backslash")
		}
		i++
		switch v[i] {
		case '\\', ',', ';':
			b.WriteByte(v[i])
		case 'n', 'N':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("unknown escape \\%c", v[i])
		}
	}
	return b.String(), nil
}
