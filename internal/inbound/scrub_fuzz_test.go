package inbound

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/deeplink"
	"github.com/linegate/linegate/internal/linq"
)

// FuzzScrub checks that a processed payload keeps no message text: whatever
// envelope Linq (or anyone who can sign) sends, once scrubbed, decoding it
// the way processing does finds no parts, and the event keeps its identity.
func FuzzScrub(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"e1","event_type":"message.received","data":{"id":"m1","parts":[{"type":"text","value":"secret words"}]}}`,
		`{"event_id":"e1","event_type":"message.edited","data":{"id":"m1","part":{"index":0,"text":"secret words"}}}`,
		`{"event_id":"e1","event_type":"message.received","Data":{"id":"m1","parts":[{"type":"text","value":"secret words"}]}}`,
		`{"event_id":"e1","event_type":"message.received","data":{"id":"m1","PARTS":[{"type":"text","value":"secret words"}]}}`,
		`{"event_id":"e1","event_type":"message.received","data":{"id":"m1","partſ":[{"type":"text","value":"secret words"}]}}`,
		`{"event_id":"e1","event_type":"message.received","data":{"parts":[]},"data":{"parts":[{"type":"text","value":"x"}]}}`,
		`{"event_id":"e1","event_type":"message.received","webhook_version":"2025-01-01","data":{"chat_id":"c1","message":{"id":"m1","parts":[{"type":"text","value":"secret words"}]}}}`,
		`{"event_id":"e1","event_type":"message.received","data":{"chat_id":"c1","MESSAGE":{"id":"m1","Parts":[{"type":"text","value":"secret words"}]}}}`,
		`{"event_id":"e1","event_type":"message.received","data":{"message":{"parts":[{"type":"text","value":"x"}]},"message":{"id":"m1"}}}`,
		`{"event_id":"e1","event_type":"phone_number.status_updated","data":{"phone_number":"+14155552671"}}`,
		`{"event_id":"e1","event_type":"x","data":[1]}`,
	} {
		f.Add([]byte(s))
	}
	s := &Service{cfg: Config{}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := linq.ParseWebhookEvent(payload)
		if err != nil {
			return // never stored: intake refuses it
		}
		out := s.scrub(payload)
		again, err := linq.ParseWebhookEvent(out)
		require.NoError(t, err, "scrubbed %s into %s", payload, out)
		require.Equal(t, ev.EventID, again.EventID)
		require.Equal(t, ev.EventType, again.EventType)

		var msg linq.MessageEventData
		if again.DecodeData(&msg) == nil {
			require.Empty(t, msg.Parts, "parts survive in %s", out)
		}
		// As processing reads it, in either webhook version.
		var either linq.MessageEventData
		if again.DecodeMessageEvent(&either) == nil {
			require.Empty(t, either.Parts, "parts survive in %s", out)
		}
		var edit linq.MessageEditedData
		if again.DecodeData(&edit) == nil {
			require.Empty(t, edit.Part.Text, "edited text survives in %s", out)
		}
	})
}

// FuzzReceivedText covers what message.received does with a sender's text:
// the opt-out rule ignores surrounding space, and a signup code is found in
// the joined text parts exactly when it is found in one of them (the last
// such part's code wins).
func FuzzReceivedText(f *testing.F) {
	for _, s := range []string{"STOP", " opt-out\n", "Opt   Out", "stop", "Join [LG-7Q2M9XKD]", "[LG-", "7Q2M9XKD]", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		require.Equal(t, IsOptOut(a), IsOptOut(" \t"+a+"\n "))
		if IsOptOut(a) {
			require.False(t, IsOptOut(a+" please"))
		}
		// Linq's text parts are joined with newlines before the code is read.
		code, ok := deeplink.ExtractCode(a + "\n" + b)
		codeA, okA := deeplink.ExtractCode(a)
		codeB, okB := deeplink.ExtractCode(b)
		switch {
		case okB:
			require.True(t, ok)
			require.Equal(t, codeB, code, "the later part's code wins")
		case okA:
			require.True(t, ok)
			if _, spans := deeplink.ExtractCode(a + "\n" + b[:strings.IndexByte(b+"]", ']')]); !spans {
				require.Equal(t, codeA, code)
			}
		default:
			if ok {
				// Only a code written across the part boundary.
				require.Contains(t, a+b, "[")
			}
		}
	})
}
