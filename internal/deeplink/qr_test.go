package deeplink

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/testkit"
)

func TestQRPNG(t *testing.T) {
	t.Parallel()

	t.Run("DecodesBackAtRequestedSize", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name    string
			content string
			size    int
		}{
			{"ShortLink", "https://lg.example.com/s/AAECAwQFBgcICQoLDA0ODw", 256},
			{"ShortLinkUnevenScale", "https://lg.example.com/s/AAECAwQFBgcICQoLDA0ODw", 300},
			{"SMSLink", "sms:+14155552671&body=Hi%21%20My%20code%3A%20%5BLG-7Q2M9XKD%5D", 512},
			{"LongContent", "https://lg.example.com/s/" + strings.Repeat("x", 300), 600},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				data, err := QRPNG(tt.content, tt.size)
				require.NoError(t, err)
				img, err := png.Decode(bytes.NewReader(data))
				require.NoError(t, err)
				require.Equal(t, tt.size, img.Bounds().Dx())
				require.Equal(t, tt.size, img.Bounds().Dy())

				require.Equal(t, tt.content, testkit.DecodeQR(t, img))
			})
		}
	})

	t.Run("RefusesSizesItCannotHonour", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name    string
			content string
			size    int
		}{
			{"Zero", "hello", 0},
			{"Negative", "hello", -4},
			{"AboveMax", "hello", MaxQRSize + 1},
			{"BelowModuleCount", "https://lg.example.com/s/AAECAwQFBgcICQoLDA0ODw", 20},
			{"ContentTooLong", strings.Repeat("x", 3000), 1024},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				_, err := QRPNG(tt.content, tt.size)
				require.Error(t, err)
			})
		}
	})
}
