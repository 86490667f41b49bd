package deeplink

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLandingHTML(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		page LandingPage
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()

		body := Body("", "LG-7Q2M9XKD")
		return &testBundle{page: LandingPage{
			Company:     "Acme",
			Number:      "+14155552671",
			IOSLink:     IOSLink("+14155552671", body),
			AndroidLink: AndroidLink("+14155552671", body),
			QRURL:       "/s/AAECAwQFBgcICQoLDA0ODw/qr.png",
			VCardURL:    "/s/AAECAwQFBgcICQoLDA0ODw/contact.vcf",
		}}
	}
	render := func(t *testing.T, p LandingPage) string {
		t.Helper()

		var buf bytes.Buffer
		require.NoError(t, LandingHTML(&buf, p))
		return buf.String()
	}

	t.Run("ShowsEverythingADesktopVisitorNeeds", func(t *testing.T) {
		t.Parallel()

		b := setup(t)
		page := render(t, b.page)
		require.True(t, strings.HasPrefix(page, "<!doctype html>"))
		require.Contains(t, page, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
		require.Contains(t, page, "<h1>Text Acme</h1>")
		require.Contains(t, html.UnescapeString(page), `<p class="number">+14155552671</p>`)
		require.Equal(t, []string{
			b.page.QRURL,
			"sms:+14155552671&body=Hi%21%20My%20code%3A%20%5BLG-7Q2M9XKD%5D",
			"sms:+14155552671?body=Hi%21%20My%20code%3A%20%5BLG-7Q2M9XKD%5D",
			b.page.VCardURL,
		}, urlAttrs(page))
		require.Contains(t, page, "contact.vcf\" download>")
	})

	t.Run("IsSelfContained", func(t *testing.T) {
		t.Parallel()

		page := render(t, setup(t).page)
		require.NotContains(t, page, "<script")
		require.NotContains(t, page, "<link")
		require.NotContains(t, page, `src="http`)
		require.NotContains(t, page, "@import")
	})

	t.Run("EscapesCompany", func(t *testing.T) {
		t.Parallel()

		b := setup(t)
		b.page.Company = `Acme <script>alert("x")</script> & Co`
		page := render(t, b.page)
		require.NotContains(t, page, "<script>")
		require.Contains(t, page, "Acme &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co")
	})

	t.Run("NeutralisesUnsafeURLs", func(t *testing.T) {
		t.Parallel()

		b := setup(t)
		b.page.QRURL = "javascript:alert(1)"
		b.page.VCardURL = `/x" onclick="alert(1)`
		page := render(t, b.page)
		require.NotContains(t, page, "javascript:")
		require.NotContains(t, page, `" onclick="`)
	})

	t.Run("RefusesNonSMSLinks", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name    string
			ios     string
			android string
		}{
			{"JavascriptIOS", "javascript:alert(1)", "sms:+14155552671?body="},
			{"HTTPSAndroid", "sms:+14155552671&body=", "https://evil.example/"},
			{"QuoteBreakout", `sms:+1" onclick="alert(1)`, "sms:+14155552671?body="},
			{"Empty", "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				p := setup(t).page
				p.IOSLink, p.AndroidLink = tt.ios, tt.android
				var buf bytes.Buffer
				require.Error(t, LandingHTML(&buf, p))
				require.Zero(t, buf.Len(), "wrote a partial page")
			})
		}
	})

	t.Run("NoCompanyStillReads", func(t *testing.T) {
		t.Parallel()

		b := setup(t)
		b.page.Company = ""
		page := render(t, b.page)
		require.Contains(t, page, "<h1>Start a conversation</h1>")
	})
}

func TestNotFoundHTML(t *testing.T) {
	t.Parallel()

	t.Run("IsGenericAndStable", func(t *testing.T) {
		t.Parallel()

		var a, b bytes.Buffer
		require.NoError(t, NotFoundHTML(&a))
		require.NoError(t, NotFoundHTML(&b))
		require.Equal(t, a.String(), b.String())
		page := strings.ToLower(a.String())
		require.Contains(t, page, "<h1>link not found</h1>")
		for _, leak := range []string{"expired", "token", "sms:", "+1", "<script"} {
			require.NotContains(t, page, leak)
		}
	})
}

func TestTryLaterHTML(t *testing.T) {
	t.Parallel()

	t.Run("SaysNothingOfTheLink", func(t *testing.T) {
		t.Parallel()

		var buf bytes.Buffer
		require.NoError(t, TryLaterHTML(&buf))
		page := strings.ToLower(buf.String())
		require.Contains(t, page, "<h1>please try again</h1>")
		for _, leak := range []string{"token", "sms:", "+1", "<script", "database"} {
			require.NotContains(t, page, leak)
		}
	})
}

var urlAttr = regexp.MustCompile(`\s(?:href|src)="([^"]*)"`)

// urlAttrs returns the href and src values of page in order, as a browser
// reads them (entities decoded).
func urlAttrs(page string) []string {
	var out []string
	for _, m := range urlAttr.FindAllStringSubmatch(page, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}
