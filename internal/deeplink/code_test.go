package deeplink

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var canonicalCode = regexp.MustCompile(`^LG-[0-9A-HJKMNP-TV-Z]{8}$`)

func TestNewCode(t *testing.T) {
	t.Parallel()

	t.Run("IsPrefixedCrockfordBase32", func(t *testing.T) {
		t.Parallel()

		for range 200 {
			code, err := NewCode()
			require.NoError(t, err)
			require.Regexp(t, canonicalCode, code)
		}
	})

	t.Run("DoesNotRepeat", func(t *testing.T) {
		t.Parallel()

		seen := make(map[string]bool)
		for range 10_000 {
			code, err := NewCode()
			require.NoError(t, err)
			require.False(t, seen[code], "duplicate code %s", code)
			seen[code] = true
		}
	})

	t.Run("ExtractsFromItsOwnBody", func(t *testing.T) {
		t.Parallel()

		code, err := NewCode()
		require.NoError(t, err)
		got, ok := ExtractCode(Body("", code))
		require.True(t, ok)
		require.Equal(t, code, got)
	})
}

func TestBody(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		prefill string
		want    string
	}{
		{"EmptyPrefillUsesDefault", "", "Hi! My code: [LG-7Q2M9XKD]"},
		{"BlankPrefillUsesDefault", " \n ", "Hi! My code: [LG-7Q2M9XKD]"},
		{"PrefillThenCode", "Join the waitlist", "Join the waitlist [LG-7Q2M9XKD]"},
		{"PrefillIsTrimmed", "  Hello there \n", "Hello there [LG-7Q2M9XKD]"},
		{"UnicodePrefillKept", "Salut 👋 ça va ?", "Salut 👋 ça va ? [LG-7Q2M9XKD]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, Body(tt.prefill, "LG-7Q2M9XKD"))
		})
	}
}

func TestExtractCode(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		text   string
		want   string
		wantOK bool
	}{
		{"DefaultBody", "Hi! My code: [LG-7Q2M9XKD]", "LG-7Q2M9XKD", true},
		{"TextAddedAround", "hey!! Hi! My code: [LG-7Q2M9XKD] is this the right number?", "LG-7Q2M9XKD", true},
		{"PrefillDeleted", "[LG-7Q2M9XKD]", "LG-7Q2M9XKD", true},
		{"NoSpaceAround", "hello[LG-7Q2M9XKD]world", "LG-7Q2M9XKD", true},
		{"Lowercased", "hi [lg-7q2m9xkd]", "LG-7Q2M9XKD", true},
		{"SpacesInsideBrackets", "hi [ LG - 7Q2M9XKD ]", "LG-7Q2M9XKD", true},
		{"SmartDash", "hi [LG–7Q2M9XKD]", "LG-7Q2M9XKD", true},
		{"ConfusablesDecoded", "hi [LG-lOAIBCDE]", "LG-10A1BCDE", true},
		{"LastCodeWins", "[LG-AAAAAAAA] then [LG-BBBBBBBB]", "LG-BBBBBBBB", true},
		{"MultilineMessage", "line one\n[LG-7Q2M9XKD]\nline three", "LG-7Q2M9XKD", true},
		{"NoCode", "Hi! My code:", "", false},
		{"Empty", "", "", false},
		{"NoBrackets", "my code is LG-7Q2M9XKD", "", false},
		{"OneBracketDeleted", "my code is LG-7Q2M9XKD]", "", false},
		{"LookAlikeProductName", "I love my [LG-TVSALES]", "", false},
		{"TooLong", "[LG-7Q2M9XKDZ]", "", false},
		{"TooShort", "[LG-7Q2M9XK]", "", false},
		{"LetterU", "[LG-7Q2M9XKU]", "", false},
		{"WrongPrefix", "[LQ-7Q2M9XKD]", "", false},
		{"NoPrefix", "[7Q2M9XKD]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, ok := ExtractCode(tt.text)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("FindsBodyCodeWhateverSurroundsIt", func(t *testing.T) {
		t.Parallel()

		rapid.Check(t, func(t *rapid.T) {
			code := "LG-" + rapid.StringMatching(`[0-9A-HJKMNP-TV-Z]{8}`).Draw(t, "symbols")
			prefill := rapid.String().Draw(t, "prefill")
			before := rapid.String().Draw(t, "before")
			// Text typed after the code must not hold a code of its own:
			// then the later code wins, by design.
			after := rapid.String().Filter(func(s string) bool { return !codeInText.MatchString(s) }).Draw(t, "after")

			got, ok := ExtractCode(before + Body(prefill, code) + after)
			require.True(t, ok)
			require.Equal(t, code, got)
		})
	})
}
