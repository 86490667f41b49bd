package linq

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The test vector of wire doc §10.2, computed with standardwebhooks.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7Jxx2Oll+OE="
	vectorMsgID     = "msg_test"
	vectorTimestamp = 1700000000
	vectorBody      = `{"event_type":"message.received","event_id":"00000000-0000-0000-0000-000000000001"}`
	vectorStandard  = "v1,1VVP1ephQaxmU6LC5UykQECpEHQTCmQ+yFYH6tVo2rc="
	vectorLegacy    = "37fa698bd311aa06056a62a1ea63e60cba1e8ca0a77f3f5cf114e74e44f62893"
)

func vectorHeaders() http.Header {
	h := http.Header{}
	h.Set(HeaderWebhookID, vectorMsgID)
	h.Set(HeaderWebhookTimestamp, strconv.Itoa(vectorTimestamp))
	h.Set(HeaderWebhookSignature, vectorStandard)
	h.Set(HeaderLegacyTimestamp, strconv.Itoa(vectorTimestamp))
	h.Set(HeaderLegacySignature, vectorLegacy)
	return h
}

func TestSignTestVector(t *testing.T) {
	t.Parallel()
	ts := time.Unix(vectorTimestamp, 0)
	if got := SignStandard(vectorSecret, vectorMsgID, ts, []byte(vectorBody)); got != vectorStandard {
		t.Fatalf("SignStandard = %q, want %q", got, vectorStandard)
	}
	if got := SignLegacy(vectorSecret, ts, []byte(vectorBody)); got != vectorLegacy {
		t.Fatalf("SignLegacy = %q, want %q", got, vectorLegacy)
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Unix(vectorTimestamp, 0).Add(30 * time.Second)
	body := []byte(vectorBody)
	other := "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

	onlyStandard := vectorHeaders()
	onlyStandard.Del(HeaderLegacySignature)
	onlyStandard.Del(HeaderLegacyTimestamp)
	onlyLegacy := vectorHeaders()
	onlyLegacy.Del(HeaderWebhookID)
	onlyLegacy.Del(HeaderWebhookTimestamp)
	onlyLegacy.Del(HeaderWebhookSignature)
	multi := vectorHeaders()
	multi.Set(HeaderWebhookSignature, "v2,abc v1,AAAA "+vectorStandard)
	badStdGoodLegacy := vectorHeaders()
	badStdGoodLegacy.Set(HeaderWebhookSignature, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	partialStd := onlyStandard.Clone()
	partialStd.Del(HeaderWebhookID)
	badTS := onlyStandard.Clone()
	badTS.Set(HeaderWebhookTimestamp, "1700000000.5")

	tests := []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		now     time.Time
		want    error
	}{
		{"BothHeaderSets", []string{vectorSecret}, vectorHeaders(), body, now, nil},
		{"StandardOnly", []string{vectorSecret}, onlyStandard, body, now, nil},
		{"LegacyOnly", []string{vectorSecret}, onlyLegacy, body, now, nil},
		{"RotationSecondSecret", []string{other, vectorSecret}, onlyStandard, body, now, nil},
		{"SeveralSignatureEntries", []string{vectorSecret}, multi, body, now, nil},
		{"LegacyRescuesBadStandard", []string{vectorSecret}, badStdGoodLegacy, body, now, nil},
		{"WrongSecret", []string{other}, vectorHeaders(), body, now, ErrWebhookSignature},
		{"TamperedBody", []string{vectorSecret}, vectorHeaders(), []byte(vectorBody + " "), now, ErrWebhookSignature},
		{"TamperedBodyLegacy", []string{vectorSecret}, onlyLegacy, []byte(vectorBody + " "), now, ErrWebhookSignature},
		{"TooOld", []string{vectorSecret}, onlyStandard, body, time.Unix(vectorTimestamp, 0).Add(301 * time.Second), ErrWebhookTimestamp},
		{"TooNew", []string{vectorSecret}, onlyStandard, body, time.Unix(vectorTimestamp, 0).Add(-301 * time.Second), ErrWebhookTimestamp},
		{"AtTolerance", []string{vectorSecret}, onlyStandard, body, time.Unix(vectorTimestamp, 0).Add(300 * time.Second), nil},
		{"NonIntegerTimestamp", []string{vectorSecret}, badTS, body, now, ErrWebhookTimestamp},
		{"NoHeaders", []string{vectorSecret}, http.Header{}, body, now, ErrWebhookHeaders},
		{"PartialStandard", []string{vectorSecret}, partialStd, body, now, ErrWebhookHeaders},
		{"NoSecret", nil, vectorHeaders(), body, now, ErrWebhookNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyWebhook(tt.secrets, tt.header, tt.body, tt.now, 0)
			if tt.want == nil && err != nil {
				t.Fatalf("VerifyWebhook: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifyWebhook = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseWebhookEvent(t *testing.T) {
	t.Parallel()
	body := `{"event_id":"e1","event_type":"phone_number.status_updated","created_at":"2026-02-03T10:00:00Z",
"api_version":"v3","webhook_version":"2026-02-03","partner_id":"p","trace_id":"t",
"data":{"phone_number":"+15550100000","changed_at":"2026-02-03T10:00:00Z","previous_status":"ACTIVE","new_status":"FLAGGED",
"previous_health_status":"HEALTHY","new_health_status":"AT_RISK"}}`
	ev, err := ParseWebhookEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var d PhoneNumberStatusUpdatedData
	if err := ev.DecodeData(&d); err != nil {
		t.Fatal(err)
	}
	prev, cur := d.Reputations()
	if d.NewStatus != LineStatusFlagged || prev != ReputationHealthy || cur != ReputationAtRisk {
		t.Fatalf("decoded %+v, reputations %s→%s", d, prev, cur)
	}
	for _, bad := range []string{`{`, `{"event_type":"x","data":{}}`, `{"event_id":"e","data":{}}`, `{"event_id":"e","event_type":"x"}`} {
		if _, err := ParseWebhookEvent([]byte(bad)); err == nil {
			t.Fatalf("ParseWebhookEvent(%s) accepted", bad)
		}
	}
}
