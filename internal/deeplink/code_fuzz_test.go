package deeplink

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzExtractCode feeds inbound text to ExtractCode: whatever it returns is
// a code NewCode could have made, and the code Body writes always comes
// back, whatever prefill surrounds it.
func FuzzExtractCode(f *testing.F) {
	for _, s := range []string{
		"Hi! My code: [LG-7Q2M9XKD]",
		"[lg – 7q2m9xkd ]",
		"[LG-OIL0ABCD] and then [LG-12345678]",
		"LG-TVSALES is not a code",
		"[LG-ſſſſKKKK]",
		"[LG-\u212a0000000]",
		"[LG-UUUUUUUU]",
		"",
	} {
		f.Add(s, s, []byte{0, 0, 0, 0, 0})
	}
	f.Add("Join the waitlist", "reply [LG-ABCDEFGH]", []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, text, prefill string, raw []byte) {
		if code, ok := ExtractCode(text); ok {
			require.Regexp(t, canonicalCode, code, "extracted from %q", text)
		} else {
			require.Empty(t, code)
		}

		var b [5]byte
		copy(b[:], raw)
		code := encodeCode(b)
		require.Regexp(t, canonicalCode, code)
		got, ok := ExtractCode(Body(prefill, code))
		require.True(t, ok, "no code found in the body made for %q", prefill)
		require.Equal(t, code, got)
		// A user who adds text after the code keeps it, unless that text
		// holds another code.
		if _, other := ExtractCode(text); !other {
			got, ok = ExtractCode(Body(prefill, code) + " " + text)
			require.True(t, ok)
			require.Equal(t, code, got)
		}
		// Lower case and a typographic dash read as the same code.
		got, ok = ExtractCode("[" + strings.Replace(strings.ToLower(code), "-", "–", 1) + "]")
		require.True(t, ok)
		require.Equal(t, code, got)
	})
}

// FuzzIsToken checks the short-link token's shape test: every token it
// accepts is the one encoding of 16 bytes (so two spellings never name one
// link), and every encoding of 16 bytes is accepted.
func FuzzIsToken(f *testing.F) {
	for _, s := range []string{
		"AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "____________________-w",
		"AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA+/", "",
	} {
		f.Add(s, []byte(s))
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		if IsToken(s) {
			b, err := base64.RawURLEncoding.DecodeString(s)
			require.NoError(t, err)
			require.Len(t, b, tokenBytes)
			require.Equal(t, s, base64.RawURLEncoding.EncodeToString(b), "a token has one spelling")
		}
		var b [tokenBytes]byte
		copy(b[:], raw)
		require.True(t, IsToken(base64.RawURLEncoding.EncodeToString(b[:])))
	})
}
