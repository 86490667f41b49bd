package messaging

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/linq"
)

func TestStoredSend(t *testing.T) {
	t.Parallel()

	t.Run("KeepsTheOptionsBesideTheParts", func(t *testing.T) {
		t.Parallel()
		req := SendRequest{Parts: []linq.Part{linq.TextPart("hi")}, PreferredService: "SMS",
			Effect: &linq.Effect{Type: "bubble", Name: "slam"}, ReplyTo: &linq.ReplyTo{MessageID: "m-1"}}
		b, err := storeSend(req)
		require.NoError(t, err)
		st, err := readStored(b)
		require.NoError(t, err)
		require.Equal(t, req.Parts, st.Parts)
		require.Equal(t, linqOptions{PreferredService: "SMS", Effect: req.Effect, ReplyTo: req.ReplyTo}, st.linqOptions)
	})

	for _, tc := range []struct {
		name, body string
		parts      int
		ok         bool
	}{
		{"ReadsRowsThatHoldThePartsAlone", `[{"type":"text","value":"hi"}]`, 1, true},
		{"ReadsThePartsAloneWithLeadingSpace", ` [{"type":"text","value":"hi"}]`, 1, true},
		{"RefusesWhatIsNotASend", `"text"`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := readStored([]byte(tc.body))
			require.Equal(t, tc.ok, err == nil, "error: %v", err)
			require.Len(t, st.Parts, tc.parts)
		})
	}
}
