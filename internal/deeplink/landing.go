package deeplink

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages is parsed once at start; a broken template fails every test at once.
var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// LandingPage is what the desktop short-link page shows. IOSLink and
// AndroidLink must be sms: links (as IOSLink and AndroidLink build); QRURL and
// VCardURL are ordinary URLs, usually relative to the short link.
type LandingPage struct {
	Company     string
	Number      string
	IOSLink     string
	AndroidLink string
	QRURL       string
	VCardURL    string
}

// landingData is LandingPage with the sms: links vouched for: html/template
// replaces URLs with schemes it does not know by "#ZgotmplZ", so the sms:
// scheme has to be marked safe after checking it is really sms:.
type landingData struct {
	LandingPage
	IOSLink     template.URL
	AndroidLink template.URL
}

// LandingHTML writes the page a desktop visitor of a short link sees: the
// company, the number, a QR code to scan with their phone, both sms: links and
// a link to save the contact. The page is self-contained (inline CSS, no
// scripts or third-party assets) and every value is escaped by html/template.
// Nothing is written if rendering fails, so the caller can still answer 500.
func LandingHTML(w io.Writer, p LandingPage) error {
	d := landingData{LandingPage: p}
	var err error
	if d.IOSLink, err = smsURL(p.IOSLink); err != nil {
		return fmt.Errorf("landing page ios link: %w", err)
	}
	if d.AndroidLink, err = smsURL(p.AndroidLink); err != nil {
		return fmt.Errorf("landing page android link: %w", err)
	}
	return render(w, "landing.html", d)
}

// NotFoundHTML writes the page for an unknown, expired or malformed token. It
// is the same page in every case, so it tells a visitor guessing tokens
// nothing.
func NotFoundHTML(w io.Writer) error {
	return render(w, "message.html", message{Title: "Link not found", Text: "This link is not valid. Please ask for a new one."})
}

// TryLaterHTML writes the page for a link that cannot be served right now
// (too many requests from one address, the database out of reach). Like
// NotFoundHTML it says nothing about the link.
func TryLaterHTML(w io.Writer) error {
	return render(w, "message.html", message{Title: "Please try again", Text: "This link cannot be opened right now. Please open it again in a minute."})
}

// message is a page that only says something: its title, also its
// heading, and one paragraph.
type message struct{ Title, Text string }

// smsURL checks that link is an sms: link with nothing that could break out
// of an attribute, and marks it safe for html/template.
func smsURL(link string) (template.URL, error) {
	if !strings.HasPrefix(link, "sms:") || strings.ContainsAny(link, "\"'<> \t\r\n") {
		return "", fmt.Errorf("%q is not an sms: link", link)
	}
	return template.URL(link), nil //nolint:gosec // checked to be an sms: link above
}

// render executes a page into memory first so a failure writes nothing.
func render(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
