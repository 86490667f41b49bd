package deeplink

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Contact is what the signup vCard holds: the company the user is texting
// and every number they may hear from, home line first.
type Contact struct {
	Company  string
	HomeLine string
	Backups  []string
}

// maxLineOctets is the longest a vCard line may be before folding (RFC 2425
// §5.8.1).
const maxLineOctets = 75

// VCard renders c as a vCard 3.0 (RFC 2426) card with CRLF line endings. The
// home line is the first TEL and the only one marked PREF; each backup follows
// in order, so a user failed over to a backup line still sees the company's
// name, and stays in a thread they recognise. Text values are escaped and long
// lines folded, so no input can add or break a property. An empty Company
// falls back to the home line for FN, which the format requires.
func VCard(c Contact) []byte {
	name := c.Company
	if strings.TrimSpace(name) == "" {
		name = c.HomeLine
	}
	var b bytes.Buffer
	line := func(nameParams, value string) { writeFolded(&b, nameParams+":"+value) }

	line("BEGIN", "VCARD")
	line("VERSION", "3.0")
	line("N", escapeText(name)+";;;;")
	line("FN", escapeText(name))
	line("ORG", escapeText(name))
	// Apple Contacts files and shows the card as a company, not a person.
	line("X-ABSHOWAS", "COMPANY")
	line("TEL;TYPE=CELL,PREF", escapeText(c.HomeLine))
	for _, n := range c.Backups {
		line("TEL;TYPE=CELL", escapeText(n))
	}
	line("END", "VCARD")
	return b.Bytes()
}

// escapeText escapes a text value per RFC 2426 §4: backslash, comma and
// semicolon get a backslash, and a newline (CRLF, CR or LF) becomes \n. TEL
// values go through it too: a number needs no escaping, and anything else
// cannot break out of its line.
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', ',', ';':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// writeFolded writes one content line, folded so no physical line exceeds
// maxLineOctets: each continuation starts with a space, which counts towards
// its length. Folds fall between UTF-8 sequences, never inside one, so each
// physical line stays valid UTF-8 for readers that decode before unfolding.
func writeFolded(b *bytes.Buffer, s string) {
	limit := maxLineOctets
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = maxLineOctets - 1
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
