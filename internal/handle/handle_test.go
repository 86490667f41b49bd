package handle

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Fixtures are numbers libphonenumber's metadata calls valid; the 555 area
// code (+1 555 …) is not, so it serves as an invalid case instead.
func TestParse(t *testing.T) {
	t.Parallel()

	t.Run("AcceptsAndNormalises", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name   string
			raw    string
			region string
			want   Handle
		}{
			{"E164", "+14155552671", "US", Handle{"+14155552671", KindPhone}},
			{"E164AnyRegion", "+14155552671", "", Handle{"+14155552671", KindPhone}},
			{"FormattedInternational", "+1 (415) 555-2671", "US", Handle{"+14155552671", KindPhone}},
			{"NationalUS", "415-555-2671", "US", Handle{"+14155552671", KindPhone}},
			{"NationalWithParens", "(650) 253-0000", "US", Handle{"+16502530000", KindPhone}},
			{"NationalLowercaseRegion", "6502530000", "us", Handle{"+16502530000", KindPhone}},
			{"NationalWithTrunkOne", "1 650 253 0000", "US", Handle{"+16502530000", KindPhone}},
			{"DottedNumber", "202.555.0123", "US", Handle{"+12025550123", KindPhone}},
			{"NationalGB", "07911 123456", "GB", Handle{"+447911123456", KindPhone}},
			{"InternationalFromOtherRegion", "+33 6 12 34 56 78", "US", Handle{"+33612345678", KindPhone}},
			{"TelURI", "tel:+1-650-253-0000", "US", Handle{"+16502530000", KindPhone}},
			{"FullwidthDigits", "＋１６５０２５３００００", "US", Handle{"+16502530000", KindPhone}},
			{"UnicodeDashes", "650‑253–0000", "US", Handle{"+16502530000", KindPhone}},
			{"SurroundingSpace", "  +14155552671\n", "US", Handle{"+14155552671", KindPhone}},
			{"Email", "someone@example.com", "US", Handle{"someone@example.com", KindEmail}},
			{"EmailLowercased", "Some.One@Example.COM", "US", Handle{"some.one@example.com", KindEmail}},
			{"EmailPlusTag", "a+tag@mail.example.co.uk", "", Handle{"a+tag@mail.example.co.uk", KindEmail}},
			{"EmailSurroundingSpace", " a@b.io ", "", Handle{"a@b.io", KindEmail}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				got, err := Parse(tt.raw, tt.region)
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
			})
		}
	})

	t.Run("RefusesWithInvalidError", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name   string
			raw    string
			region string
		}{
			{"Empty", "", "US"},
			{"Blank", " \t ", "US"},
			{"FictionalAreaCode", "+1 (555) 123-4567", "US"},
			{"FictionalAreaCodeNational", "555-123-4567", "US"},
			{"TooShort", "12345", "US"},
			{"TooLong", "+1650253000012", "US"},
			{"NationalWithoutRegion", "6502530000", ""},
			{"NationalInWrongRegion", "07911 123456", "US"},
			{"Extension", "650-253-0000 ext 12", "US"},
			{"TelURIExtension", "tel:+1-650-253-0000;ext=12", "US"},
			{"VanityLetters", "1-800-FLOWERS", "US"},
			{"TrailingLetters", "+16502530000abc", "US"},
			{"Word", "hello", "US"},
			{"EmailWithoutDomainDot", "someone@localhost", "US"},
			{"EmailWithDisplayName", "Some One <someone@example.com>", "US"},
			{"EmailInAngles", "<someone@example.com>", "US"},
			{"EmailWithComment", "someone@example.com (work)", "US"},
			{"EmailQuotedLocal", `"some one"@example.com`, "US"},
			{"EmailDomainLiteral", "someone@[192.168.0.1]", "US"},
			{"EmailIPDomain", "someone@192.168.0.1", "US"},
			{"EmailTrailingDot", "someone@example.com.", "US"},
			{"EmailDoubleAt", "a@b@example.com", "US"},
			{"EmailNoLocal", "@example.com", "US"},
			{"EmailTwoAddresses", "a@example.com, b@example.com", "US"},
			{"EmailTooLong", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", "US"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				_, err := Parse(tt.raw, tt.region)
				var invalid *InvalidError
				require.ErrorAs(t, err, &invalid)
				require.Equal(t, tt.raw, invalid.Value)
				require.NotEmpty(t, invalid.Reason)
			})
		}
	})

	t.Run("ErrorOmitsTheValue", func(t *testing.T) {
		t.Parallel()

		_, err := Parse("Some One <someone@example.com>", "US")
		require.Error(t, err)
		require.NotContains(t, err.Error(), "someone")
		require.True(t, strings.HasPrefix(err.Error(), "invalid handle: "))
	})

	t.Run("WrappedErrorStillMatches", func(t *testing.T) {
		t.Parallel()

		_, err := Parse("nope", "US")
		wrapped := errors.Join(errors.New("create signup"), err)
		var invalid *InvalidError
		require.ErrorAs(t, wrapped, &invalid)
	})
}

func TestParseIsIdempotent(t *testing.T) {
	t.Parallel()

	regions := []string{"US", "GB", "FR", "DE", "IN", ""}
	numbers := []string{"+14155552671", "+16502530000", "+447911123456", "+33612345678", "+4915123456789", "+919876543210"}

	// Both free-form strings and mangled real numbers, so the property is
	// exercised on inputs that actually parse.
	input := rapid.OneOf(
		rapid.String(),
		rapid.StringMatching(`[ +()0-9.\-]{0,20}`),
		rapid.StringMatching(`[A-Za-z0-9.+_\-]{1,10}@[A-Za-z0-9\-]{1,10}(\.[A-Za-z]{2,5}){1,2}`),
		rapid.Custom(func(t *rapid.T) string {
			n := rapid.SampledFrom(numbers).Draw(t, "number")
			var b strings.Builder
			for _, r := range n {
				b.WriteRune(r)
				b.WriteString(rapid.SampledFrom([]string{"", "", " ", "-", ".", "(", ")"}).Draw(t, "sep"))
			}
			return b.String()
		}),
	)

	rapid.Check(t, func(t *rapid.T) {
		raw := input.Draw(t, "raw")
		region := rapid.SampledFrom(regions).Draw(t, "region")

		h, err := Parse(raw, region)
		if err != nil {
			var invalid *InvalidError
			require.ErrorAs(t, err, &invalid)
			return
		}
		if h.Kind == KindPhone {
			require.True(t, IsE164(h.Value), "phone handle %q is not E.164", h.Value)
		}
		for _, again := range []string{region, "US", ""} {
			h2, err := Parse(h.Value, again)
			require.NoError(t, err)
			require.Equal(t, h, h2)
		}
	})
}

func TestIsE164(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"US", "+14155552671", true},
		{"Shortest", "+1234567", true},
		{"Longest", "+123456789012345", true},
		{"TooShort", "+123456", false},
		{"TooLong", "+1234567890123456", false},
		{"NoPlus", "14155552671", false},
		{"LeadingZero", "+04155552671", false},
		{"Spaces", "+1 415 555 2671", false},
		{"Dash", "+1415-555-2671", false},
		{"FullwidthDigits", "+１４１５５５５２６７１", false},
		{"Empty", "", false},
		{"PlusOnly", "+", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, IsE164(tt.in))
		})
	}
}
