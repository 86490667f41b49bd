package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
)

// FuzzDecodeSendRequest feeds POST /v1/messages bodies to Decode: every
// refusal is a client error in the envelope (never a 500), and every body it
// accepts decodes to a request that survives a JSON round trip unchanged.
func FuzzDecodeSendRequest(f *testing.F) {
	for _, s := range []string{
		`{"user_ref":"u1","parts":[{"type":"text","value":"hi"}]}`,
		`{"handle":"+14155552671","parts":[{"type":"media","url":"https://x.test/a.png"}],"idempotency_key":"k1","intent":"reply"}`,
		`{"user_ref":"u1","parts":[{"type":"text","value":"hi","mention_range":[1,2]}],"effect":{"type":"screen","name":"confetti"},"reply_to":{"message_id":"m","part_index":0}}`,
		`{"user_ref":"u1","parts":[]} {}`, `{"user_ref":1}`, `{"nope":true}`, `[]`, ` `, ``, `{"parts":[{"interactive":"yes"}]}`,
		`{"user_ref":"\ud800","parts":null}`, `{"user_ref":"u1","USER_REF":"u2"}`,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	f.Add([]byte(`{}`), "")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		decode := func(b []byte) (sendMessageRequest, error) {
			r := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader(b))
			if contentType != "" {
				r.Header.Set("Content-Type", contentType)
			}
			var req sendMessageRequest
			return req, Decode(r, &req)
		}
		req, err := decode(body)
		if err != nil {
			ae, ok := apperr.As(err)
			require.True(t, ok, "error %v is not an apperr", err)
			require.Contains(t, []apperr.Kind{apperr.Invalid, apperr.Unprocessable, apperr.UnsupportedMediaType}, ae.Kind, "error %v", err)
			require.NotEmpty(t, ae.Code)
			return
		}
		out, err := json.Marshal(req)
		require.NoError(t, err)
		again, err := decode(out)
		require.NoError(t, err, "re-decode of %s", out)
		require.Equal(t, req, again)
	})
}
