package deeplink

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestLinks(t *testing.T) {
	t.Parallel()

	const number = "+14155552671"
	tests := []struct {
		name    string
		body    string
		ios     string
		android string
	}{
		{
			name:    "DefaultBody",
			body:    "Hi! My code: [LG-7Q2M9XKD]",
			ios:     "sms:+14155552671&body=Hi%21%20My%20code%3A%20%5BLG-7Q2M9XKD%5D",
			android: "sms:+14155552671?body=Hi%21%20My%20code%3A%20%5BLG-7Q2M9XKD%5D",
		},
		{
			name:    "QueryCharactersEncoded",
			body:    "a&b?c#d+e=f/g",
			ios:     "sms:+14155552671&body=a%26b%3Fc%23d%2Be%3Df%2Fg",
			android: "sms:+14155552671?body=a%26b%3Fc%23d%2Be%3Df%2Fg",
		},
		{
			name:    "UnicodeAsUTF8",
			body:    "Café 👋",
			ios:     "sms:+14155552671&body=Caf%C3%A9%20%F0%9F%91%8B",
			android: "sms:+14155552671?body=Caf%C3%A9%20%F0%9F%91%8B",
		},
		{
			name:    "PercentNewlineAndUnreserved",
			body:    "100% sure\n~._-",
			ios:     "sms:+14155552671&body=100%25%20sure%0A~._-",
			android: "sms:+14155552671?body=100%25%20sure%0A~._-",
		},
		{
			name:    "EmptyBody",
			body:    "",
			ios:     "sms:+14155552671&body=",
			android: "sms:+14155552671?body=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.ios, IOSLink(number, tt.body))
			require.Equal(t, tt.android, AndroidLink(number, tt.body))
		})
	}

	t.Run("BodyDecodesBackExactly", func(t *testing.T) {
		t.Parallel()

		onlySafe := regexp.MustCompile(`^([A-Za-z0-9._~-]|%[0-9A-F]{2})*$`)
		rapid.Check(t, func(t *rapid.T) {
			body := rapid.String().Draw(t, "body")

			link := AndroidLink(number, body)
			encoded := link[len("sms:"+number+"?body="):]
			require.Regexp(t, onlySafe, encoded)
			decoded, err := url.PathUnescape(encoded)
			require.NoError(t, err)
			require.Equal(t, body, decoded)
			require.Equal(t, "sms:"+number+"&body="+encoded, IOSLink(number, body))
		})
	})
}
