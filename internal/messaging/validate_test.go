package messaging

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
)

// Fields Linq restricts are checked before anything is stored or sent, so
// that a mistake is the caller's 422 naming the field, not Linq's refusal.
func TestValidateNamesTheFieldLinqWouldRefuse(t *testing.T) {
	t.Parallel()
	const ok = `"user_ref":"u1","parts":[{"type":"text","value":"hi"}]`
	tests := []struct {
		name, body, field string // field "" means accepted
	}{
		{"ScreenEffect", `{` + ok + `,"effect":{"type":"screen","name":"confetti"}}`, ""},
		{"BubbleEffectWithoutType", `{` + ok + `,"effect":{"name":"slam"}}`, ""},
		{"UnknownEffectType", `{` + ok + `,"effect":{"type":"boom"}}`, "effect.type"},
		{"EffectNamesAreOpen", `{` + ok + `,"effect":{"type":"screen","name":"a_new_one"}}`, ""},
		{"ReplyTo", `{` + ok + `,"reply_to":{"message_id":"0b9f8c2e-6f1e-4a51-9d3e-2f0c6f1b7a10","part_index":1}}`, ""},
		{"ReplyToWithoutID", `{` + ok + `,"reply_to":{}}`, "reply_to.message_id"},
		{"ReplyToNotAnID", `{` + ok + `,"reply_to":{"message_id":"m-1"}}`, "reply_to.message_id"},
		{"ReplyToNegativePart", `{` + ok + `,"reply_to":{"message_id":"0b9f8c2e-6f1e-4a51-9d3e-2f0c6f1b7a10","part_index":-1}}`, "reply_to.part_index"},
		{"Link", `{"user_ref":"u1","parts":[{"type":"link","value":"https://example.com/a"}]}`, ""},
		{"LinkNotAURL", `{"user_ref":"u1","parts":[{"type":"link","value":"not a url"}]}`, "parts[0].value"},
		{"LinkOtherScheme", `{"user_ref":"u1","parts":[{"type":"link","value":"ftp://example.com"}]}`, "parts[0].value"},
	}
	s := &Service{cfg: Config{DefaultRegion: "US"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var req SendRequest
			require.NoError(t, json.Unmarshal([]byte(tt.body), &req))
			err := s.validate(&req)
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			ae, isApp := apperr.As(err)
			require.True(t, isApp, "%v", err)
			require.Equal(t, apperr.Unprocessable, ae.Kind)
			require.Equal(t, tt.field, ae.Field, ae.Message)
		})
	}

	t.Run("ReactionOrEditWithANegativePartIndex", func(t *testing.T) {
		t.Parallel()
		minus := -1
		_, err := s.React(t.Context(), "m", ReactRequest{Operation: "add", Type: "love", PartIndex: &minus})
		require.True(t, apperr.IsCode(err, "invalid_field"), "%v", err)
		_, err = s.Edit(t.Context(), "m", EditRequest{Text: "x", PartIndex: &minus})
		require.True(t, apperr.IsCode(err, "invalid_field"), "%v", err)
	})
}
