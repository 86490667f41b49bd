package deeplink

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewToken(t *testing.T) {
	t.Parallel()

	t.Run("Holds128BitsIn22URLSafeChars", func(t *testing.T) {
		t.Parallel()

		tok, err := NewToken()
		require.NoError(t, err)
		require.Len(t, tok, 22)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		require.NoError(t, err)
		require.Len(t, raw, 16)
		require.True(t, IsToken(tok))
	})

	t.Run("DoesNotRepeat", func(t *testing.T) {
		t.Parallel()

		seen := make(map[string]bool)
		for range 10_000 {
			tok, err := NewToken()
			require.NoError(t, err)
			require.False(t, seen[tok])
			seen[tok] = true
		}
	})
}

func TestIsToken(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"Valid", "AAAAAAAAAAAAAAAAAAAAAA", true},
		{"ValidURLAlphabet", "-_-_-_-_-_-_-_-_-_-_-w", true},
		{"Empty", "", false},
		{"TooShort", strings.Repeat("A", 21), false},
		{"TooLong", strings.Repeat("A", 23), false},
		{"Padded", strings.Repeat("A", 22) + "==", false},
		{"StdAlphabet", "+/AAAAAAAAAAAAAAAAAAAA", false},
		{"NonZeroTrailingBits", "AAAAAAAAAAAAAAAAAAAAAB", false},
		{"PathTraversal", "../../../../etc/passwd", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, IsToken(tt.in))
		})
	}
}
