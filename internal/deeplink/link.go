package deeplink

import "strings"

// IOSLink returns the link that opens Messages on iOS with body prefilled:
// sms:NUMBER&body=BODY. iOS wants "&" where the URI spec would have "?".
// number should be E.164; it is used as given.
func IOSLink(number, body string) string {
	return "sms:" + number + "&body=" + escapeBody(body)
}

// AndroidLink returns the link that opens the default SMS app on Android with
// body prefilled: sms:NUMBER?body=BODY (RFC 5724).
func AndroidLink(number, body string) string {
	return "sms:" + number + "?body=" + escapeBody(body)
}

// escapeBody percent-encodes every byte of s except RFC 3986 unreserved
// characters, with upper-case hex. Spaces become %20, never "+": Messages
// shows a "+" literally. "&", "?", "#", "=" and "+" are all encoded so the
// body can neither end early nor add a parameter.
func escapeBody(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
