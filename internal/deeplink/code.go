package deeplink

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
)

// A code is "LG-" plus 8 Crockford base32 symbols (40 random bits), e.g.
// LG-7Q2M9XKD. Crockford's alphabet has no I, L, O or U, so a code read aloud
// or retyped is not misread, and 40 bits keep collisions among live signups
// negligible (the store still enforces uniqueness).
const (
	codePrefix   = "LG-"
	codeSymbols  = 8
	crockford    = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	defaultIntro = "Hi! My code:"
)

// codeInText finds a bracketed code. Brackets are what set our code apart from
// look-alikes in the text ("LG-TVSALES" is a product name). Inside them it is
// lenient about what phones and people do: letter case, a typographic dash,
// stray spaces, and the confusable letters Crockford decodes (I/L → 1, O → 0).
// Case is spelled out rather than (?i): Unicode case folding would also
// match look-alikes such as the Kelvin sign for K or ſ for S, which are no
// code symbols.
var codeInText = regexp.MustCompile(`\[\s*[Ll][Gg]\s*[-‐‑‒–—−]\s*([0-9A-TV-Za-tv-z]{8})\s*\]`)

// NewCode returns a fresh attribution code such as "LG-7Q2M9XKD".
func NewCode() (string, error) {
	var b [5]byte // 40 bits = exactly 8 base32 symbols
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random code: %w", err)
	}
	return encodeCode(b), nil
}

// encodeCode writes 40 bits as a code, most significant symbol first.
func encodeCode(b [5]byte) string {
	v := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
	out := []byte(codePrefix + "00000000")
	for i := len(out) - 1; i >= len(codePrefix); i-- {
		out[i] = crockford[v&31]
		v >>= 5
	}
	return string(out)
}

// Body returns the message the user's phone prefills: the prefill text, a
// space, then the code in brackets, e.g. "Join the waitlist [LG-7Q2M9XKD]".
// An empty prefill becomes "Hi! My code:". The code goes last so that nothing
// in the prefill can come after it; ExtractCode relies on that.
func Body(prefill, code string) string {
	intro := strings.TrimSpace(prefill)
	if intro == "" {
		intro = defaultIntro
	}
	return intro + " [" + code + "]"
}

// ExtractCode finds the attribution code Body put into text, so the first
// inbound message can be matched to its signup. It returns the canonical code
// ("LG-" and 8 upper-case Crockford symbols) and true, or "" and false when
// there is none. The user may edit or add text around the bracketed code; when
// several codes appear the last one wins, because Body writes its code last.
func ExtractCode(text string) (string, bool) {
	all := codeInText.FindAllStringSubmatch(text, -1)
	if len(all) == 0 {
		return "", false
	}
	symbols := strings.Map(crockfordCanonical, all[len(all)-1][1])
	return codePrefix + symbols, true
}

// crockfordCanonical maps a matched symbol to its canonical form, decoding
// the letters Crockford treats as misreadings of digits.
func crockfordCanonical(r rune) rune {
	switch r {
	case 'i', 'I', 'l', 'L':
		return '1'
	case 'o', 'O':
		return '0'
	}
	if 'a' <= r && r <= 'z' {
		return r - 'a' + 'A'
	}
	return r
}
