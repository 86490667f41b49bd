package messaging

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/handle"
	"github.com/linegate/linegate/internal/ratelimit"
)

// FuzzValidate runs the send validator on any decoded request: a refusal
// names the field at fault as a 422, and an accepted request is normalised
// for good (validating it again changes nothing) with a handle that
// re-parses to itself and a known intent.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"user_ref":"u1","parts":[{"type":"text","value":"hi"}]}`,
		`{"handle":"(415) 555-2671","parts":[{"type":"text","value":"a"},{"type":"media","url":"https://x.test/a.png"}]}`,
		`{"handle":"Some.One@Example.COM","parts":[{"type":"link","value":"https://x.test"}],"intent":"reply"}`,
		`{"user_ref":"u1","parts":[{"type":"text","value":"a"},{"type":"text","value":"b"}]}`,
		`{"user_ref":"u1","parts":[{"type":"media","url":"http://x","attachment_id":"a"}]}`,
		`{"user_ref":"u1","handle":"+14155552671","parts":[{"type":"text","value":"a"}]}`,
		`{"user_ref":"u1","parts":[{"type":"text","value":"a"}],"preferred_service":"Carrier Pigeon","reply_to":{"message_id":""}}`,
	} {
		f.Add([]byte(s), "key-1")
	}
	f.Add([]byte(`{"user_ref":"u1","parts":[{"type":"text","value":"a"}]}`), "bad\x00key")
	s := &Service{cfg: Config{DefaultRegion: "US"}}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		var req SendRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		req.IdempotencyKey = key
		if err := s.validate(&req); err != nil {
			ae, ok := apperr.As(err)
			require.True(t, ok, "error %v is not an apperr", err)
			require.Equal(t, apperr.Unprocessable, ae.Kind, "error %v", err)
			require.NotEmpty(t, ae.Field)
			return
		}
		require.True(t, (req.UserRef == "") != (req.Handle == ""), "exactly one recipient")
		require.Contains(t, []string{ratelimit.IntentProactive, ratelimit.IntentReply}, req.Intent)
		require.NotEmpty(t, req.Parts)
		require.LessOrEqual(t, len(req.IdempotencyKey), maxKeyLength)
		if req.Handle != "" {
			h, err := handle.Parse(req.Handle, "")
			require.NoError(t, err)
			require.Equal(t, req.Handle, h.Value)
		}
		again := req
		again.Parts = append(again.Parts[:0:0], req.Parts...)
		require.NoError(t, s.validate(&again))
		require.Equal(t, req, again)
	})
}
