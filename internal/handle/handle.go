// Package handle parses and normalises the addresses end users are reached at
// over iMessage, RCS and SMS: E.164 phone numbers and email addresses.
//
// Normalising at the edge means one person always maps to one stored handle,
// whatever formatting the product service sent.
package handle

import "strings"

// Kind says which sort of address a Handle holds.
type Kind string

// The kinds of handle Linq can message.
const (
	KindPhone Kind = "phone"
	KindEmail Kind = "email"
)

// Handle is a normalised address: an E.164 number such as +14155552671, or a
// lowercased bare email address. Two handles for the same person compare equal.
type Handle struct {
	Value string
	Kind  Kind
}

// Parse normalises raw into a Handle. Input holding an "@" is read as an email
// address, anything else as a phone number; numbers without a leading "+" are
// read in defaultRegion (an ISO 3166-1 alpha-2 code such as "US").
//
// Every failure is an *InvalidError, so callers can answer 422 with errors.As.
// Parse is idempotent: parsing a Handle's Value again yields the same Handle,
// in any region.
func Parse(raw, defaultRegion string) (Handle, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Handle{}, &InvalidError{Value: raw, Reason: "is empty"}
	}
	if strings.Contains(s, "@") {
		return parseEmail(raw, s)
	}
	return parsePhone(raw, s, defaultRegion)
}
