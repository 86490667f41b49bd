package handle

import (
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// parsePhone reads s (raw, trimmed) as a phone number in region.
func parsePhone(raw, s, region string) (Handle, error) {
	invalid := func(reason string) (Handle, error) {
		return Handle{}, &InvalidError{Value: raw, Reason: reason}
	}
	if !phoneChars(s) {
		// phonenumbers would read letters as keypad digits (vanity numbers)
		// and turn a typo into somebody else's number.
		return invalid("is neither a phone number nor an email address")
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(region))
	if err != nil {
		return invalid("is not a phone number")
	}
	if num.GetExtension() != "" {
		// An extension cannot receive messages; dropping it would silently
		// message the switchboard instead.
		return invalid("has an extension")
	}
	if !phonenumbers.IsValidNumber(num) {
		return invalid("is not a valid phone number")
	}
	return Handle{Value: phonenumbers.Format(num, phonenumbers.E164), Kind: KindPhone}, nil
}

// phoneChars reports whether s looks like a written phone number: an optional
// tel: scheme, then digits in any script and the punctuation people put in
// numbers. Letters are refused, extensions ("ext 12", ";ext=12") with them.
func phoneChars(s string) bool {
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	for _, r := range s {
		switch {
		case unicode.IsDigit(r), unicode.IsSpace(r):
		// Plus, fullwidth plus, and the dashes word processors and phones insert.
		case strings.ContainsRune("+\uFF0B-.()/\u2010\u2011\u2012\u2013\u2014\u2212", r):
		default:
			return false
		}
	}
	return true
}

// IsE164 reports whether s is syntactically an E.164 number: a plus, a
// non-zero digit, then 6 to 14 more ASCII digits. It does not check that the
// number exists; use Parse for that.
func IsE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
