package deeplink

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// tokenBytes gives a short-link token 128 random bits: unguessable, so the
// public /s/{token} endpoints need no key.
const tokenBytes = 16

// tokenLen is the length of a token in unpadded base64url: ⌈16 × 8 ÷ 6⌉.
const tokenLen = 22

// NewToken returns a fresh public short-link token: 128 random bits as 22
// characters of unpadded base64url, safe in a URL path as is.
func NewToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// IsToken reports whether s has the shape of a token NewToken makes, so a
// handler can answer 404 to junk without a database round trip.
func IsToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == tokenBytes
}
