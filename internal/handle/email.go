package handle

import (
	"net/mail"
	"strings"
)

// maxEmailLen is the longest address SMTP can carry (RFC 5321 path limit).
const maxEmailLen = 254

// parseEmail reads s (raw, trimmed) as a bare email address.
func parseEmail(raw, s string) (Handle, error) {
	invalid := func(reason string) (Handle, error) {
		return Handle{}, &InvalidError{Value: raw, Reason: reason}
	}
	if len(s) > maxEmailLen {
		return invalid("is too long for an email address")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return invalid("is not a valid email address")
	}
	// ParseAddress also takes `Name <a@b.c>`, comments and quoted local parts;
	// a handle must be exactly the address, so the parse must not change it.
	if addr.Name != "" || addr.Address != s {
		return invalid("must be a bare email address")
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	if !hostDomain(domain) {
		return invalid("must have a domain name such as example.com")
	}
	return Handle{Value: strings.ToLower(s), Kind: KindEmail}, nil
}

// hostDomain reports whether domain is a dotted host name: not a domain
// literal, no empty labels, and a top-level label that is not all digits (an
// IP address is no messaging handle).
func hostDomain(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || strings.ContainsAny(domain, "[]") {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
