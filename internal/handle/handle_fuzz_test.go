package handle

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse checks Parse on any input and region: it never panics, refuses
// only with an *InvalidError whose message leaves the input out, and what it
// accepts is normalised for good: the handle re-parses to itself in every
// region.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"+14155552671", "+1 (415) 555-2671", "415-555-2671", "tel:+1-650-253-0000", "＋１６５０２５３００００",
		"650‑253–0000", "07911 123456", "+1 650 253 0000 ext 12", "1-800-FLOWERS", "+15555550100",
		"Some.One@Example.COM", "a+tag@mail.example.co.uk", "Name <a@b.co>", "a@[127.0.0.1]", "a@b.123",
		"\"quoted\"@example.com", "İ@example.com", "\u212a@example.com", "a@b", "", "  ",
	} {
		f.Add(s, "US")
	}
	f.Add("07911 123456", "gb")
	f.Add("6502530000", "")
	f.Fuzz(func(t *testing.T, raw, region string) {
		h, err := Parse(raw, region)
		if err != nil {
			var ie *InvalidError
			require.True(t, errors.As(err, &ie), "error %T is not an *InvalidError", err)
			require.Equal(t, raw, ie.Value)
			require.Equal(t, "invalid handle: "+ie.Reason, err.Error(), "the message must not repeat the input")
			require.Equal(t, Handle{}, h)
			return
		}
		require.NotEmpty(t, h.Value)
		switch h.Kind {
		case KindPhone:
			require.True(t, IsE164(h.Value), "%q is not E.164", h.Value)
		case KindEmail:
			require.Equal(t, strings.ToLower(h.Value), h.Value)
			require.Contains(t, h.Value, "@")
		default:
			require.Failf(t, "unknown kind", "%q", h.Kind)
		}
		for _, r := range []string{region, "", "US", "GB", "DE"} {
			again, err := Parse(h.Value, r)
			require.NoError(t, err, "%q (from %q) does not re-parse in region %q", h.Value, raw, r)
			require.Equal(t, h, again, "re-parsing %q in region %q", h.Value, r)
		}
	})
}
