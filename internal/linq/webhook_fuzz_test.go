package linq

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// flipped returns s with the byte at pos (mod len) changed to another value.
func flipped(s string, pos uint, by byte) string {
	b := []byte(s)
	i := int(pos % uint(len(b)))
	b[i] ^= by | 1 // never zero, so the byte always changes
	return string(b)
}

// FuzzVerifyWebhook signs arbitrary deliveries both ways and checks that
// the signature verifies, with the key among others during a rotation, and
// that changing any single byte of body, message id, timestamp or signature
// makes it fail.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add(vectorSecret, vectorMsgID, []byte(vectorBody), uint(0), byte(1))
	f.Add(vectorSecret, vectorMsgID, []byte(vectorBody), uint(43), byte(0x20))
	f.Add("whsec_not base64!", "msg_1", []byte(`{}`), uint(66), byte(0x20))
	f.Add("plain-secret-without-prefix", "m", []byte("x"), uint(5), byte(0x80))
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7Jxx2Oll+OE", "msg.with.dots", []byte("a.b.c"), uint(44), byte(2))
	now := time.Unix(vectorTimestamp, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	verify := func(secret string, h http.Header, body []byte) error {
		return VerifyWebhook([]string{"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", secret}, h, body, now, 0)
	}
	f.Fuzz(func(t *testing.T, secret, msgID string, body []byte, pos uint, by byte) {
		if secret == "" {
			require.ErrorIs(t, VerifyWebhook([]string{secret}, http.Header{}, body, now, 0), ErrWebhookNoSecret)
			return
		}
		standard := func(id, ts, sig string) http.Header {
			h := http.Header{}
			h.Set(HeaderWebhookID, id)
			h.Set(HeaderWebhookTimestamp, ts)
			h.Set(HeaderWebhookSignature, sig)
			return h
		}
		legacy := func(ts, sig string) http.Header {
			h := http.Header{}
			h.Set(HeaderLegacyTimestamp, ts)
			h.Set(HeaderLegacySignature, sig)
			return h
		}
		legSig := SignLegacy(secret, now, body)
		require.NoError(t, verify(secret, legacy(ts, legSig), body))
		require.ErrorIs(t, verify(secret, legacy(ts, flipped(legSig, pos, by)), body), ErrWebhookSignature, "legacy signature changed")
		require.Error(t, verify(secret, legacy(flipped(ts, pos, by), legSig), body), "legacy timestamp changed")
		if len(body) > 0 {
			require.ErrorIs(t, verify(secret, legacy(ts, legSig), []byte(flipped(string(body), pos, by))), ErrWebhookSignature, "legacy body changed")
		}

		if msgID == "" {
			return
		}
		sig := SignStandard(secret, msgID, now, body)
		require.NoError(t, verify(secret, standard(msgID, ts, sig), body))
		require.ErrorIs(t, verify(secret, standard(msgID, ts, flipped(sig, pos, by)), body), ErrWebhookSignature, "signature changed")
		require.ErrorIs(t, verify(secret, standard(flipped(msgID, pos, by), ts, sig), body), ErrWebhookSignature, "message id changed")
		require.Error(t, verify(secret, standard(msgID, flipped(ts, pos, by), sig), body), "timestamp changed")
		if len(body) > 0 {
			require.ErrorIs(t, verify(secret, standard(msgID, ts, sig), []byte(flipped(string(body), pos, by))), ErrWebhookSignature, "body changed")
		}
	})
}

// FuzzVerifyWebhookHeaders sends arbitrary header values: nothing panics and
// nothing verifies without the secret, and the error always wraps one of
// the documented sentinels (which intake maps to its answers).
func FuzzVerifyWebhookHeaders(f *testing.F) {
	h := vectorHeaders()
	f.Add(h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature),
		h.Get(HeaderLegacyTimestamp), h.Get(HeaderLegacySignature), []byte(vectorBody))
	f.Add("", "", "", "", "", []byte{})
	f.Add("id", "-1", "v1,", "99999999999999999999", "zz", []byte("{}"))
	f.Add("id", "1700000000", "v1,AAAA v2,BBBB v1", "1700000000", " 00 ", []byte("{}"))
	now := time.Unix(vectorTimestamp, 0)
	sentinels := []error{ErrWebhookHeaders, ErrWebhookTimestamp, ErrWebhookSignature}
	f.Fuzz(func(t *testing.T, id, ts, sig, lts, lsig string, body []byte) {
		h := http.Header{}
		for k, v := range map[string]string{
			HeaderWebhookID: id, HeaderWebhookTimestamp: ts, HeaderWebhookSignature: sig,
			HeaderLegacyTimestamp: lts, HeaderLegacySignature: lsig,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		// The fuzzer does not know this secret, so it cannot sign.
		err := VerifyWebhook([]string{"whsec_" + "c2VjcmV0LXRoZS1mdXp6ZXItY2Fubm90LWtub3c="}, h, body, now, 0)
		require.Error(t, err)
		matched := false
		for _, s := range sentinels {
			matched = matched || errors.Is(err, s)
		}
		require.True(t, matched, "unexpected error %v", err)
	})
}

// FuzzParseWebhookEvent checks envelope parsing: no panic, every accepted
// event has the fields a receiver relies on, and an accepted envelope
// survives a round trip through JSON unchanged.
func FuzzParseWebhookEvent(f *testing.F) {
	for _, s := range []string{
		vectorBody,
		`{"event_id":"e1","event_type":"message.received","created_at":"2026-02-03T10:00:00Z","data":{"id":"m1","parts":[{"type":"text","value":"hi"}]}}`,
		`{"event_id":"e1","event_type":"x","data":null}`,
		`{"event_id":"e1","event_type":"x","data":{},"created_at":"2026-02-03T10:00:00.123456789+14:00"}`,
		`{"EVENT_ID":"e1","Event_Type":"x","Data":[1,2]}`,
		`{"event_id":"e1","event_id":"","event_type":"x","data":1}`,
		`[]`, `null`, ``, `{"event_id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseWebhookEvent(body)
		if err != nil {
			require.Nil(t, ev)
			return
		}
		require.NotEmpty(t, ev.EventID)
		require.NotEmpty(t, ev.EventType)
		require.True(t, json.Valid(ev.Data))
		require.NotEqual(t, "null", string(ev.Data))

		out, err := json.Marshal(ev)
		if err != nil {
			// Only a time JSON cannot spell (a year past 9999 after the
			// offset is applied) may fail to re-encode.
			require.ErrorContains(t, err, "Time.MarshalJSON")
			return
		}
		again, err := ParseWebhookEvent(out)
		require.NoError(t, err, "re-parse of %s", out)
		require.True(t, ev.CreatedAt.Equal(again.CreatedAt))
		again.CreatedAt, ev.CreatedAt = time.Time{}, time.Time{}
		require.JSONEq(t, string(ev.Data), string(again.Data))
		again.Data, ev.Data = nil, nil
		require.Equal(t, ev, again)
	})
}
