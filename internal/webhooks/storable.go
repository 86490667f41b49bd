package webhooks

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// storable rewrites what Postgres' jsonb refuses in body's JSON strings as
// the replacement character U+FFFD, as encoding/json decodes them anyway:
// bytes that are not UTF-8, and the escapes of a NUL (\u0000) and of a lone
// UTF-16 surrogate (\ud800 without its pair). Refused, an inbound message
// whose text carried one would be lost for good (Linq does not retry a
// 4xx); the signature was checked on the body as sent. body must be valid
// JSON.
func storable(body []byte) []byte {
	if !utf8.Valid(body) {
		body = validUTF8(body)
	}
	var out []byte // nil until the first rewrite
	last := 0      // body[:last] is in out
	for i := 0; i < len(body)-1; i++ {
		if body[i] != '\\' {
			continue
		}
		if body[i+1] != 'u' {
			i++ // a two-byte escape: an escaped backslash starts nothing
			continue
		}
		r := hex4(body[i+2:])
		if utf16.IsSurrogate(r) && i+12 <= len(body) && body[i+6] == '\\' && body[i+7] == 'u' &&
			utf16.DecodeRune(r, hex4(body[i+8:])) != utf8.RuneError {
			i += 11 // a pair: one character, kept
			continue
		}
		if r != 0 && !utf16.IsSurrogate(r) {
			i += 5
			continue
		}
		out = append(out, body[last:i]...)
		out = append(out, `\ufffd`...)
		last = i + 6
		i += 5
	}
	if out == nil {
		return body
	}
	return append(out, body[last:]...)
}

// validUTF8 is b with each byte that is not UTF-8 replaced by U+FFFD, one
// for one, as encoding/json decodes them.
func validUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// hex4 is the value of the four hex digits at the start of b (valid JSON
// has them after \u), or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(v)
}
