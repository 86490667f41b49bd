package linq

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDecodeMessageEvent decodes the same message events in both webhook
// versions (wire doc §10.4, §10.5) into one representation.
func TestDecodeMessageEvent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	later := at.Add(5 * time.Second)
	yes, no := true, false
	line := ChatHandle{Handle: "+15550001000", IsMe: &yes}
	dave := ChatHandle{Handle: "+14155550161"}
	text := []ResponsePart{{Type: "text", Value: "hello"}}
	received := MessageEventData{
		ID: "m_1", Chat: MessageEventChat{ID: "chat_1", IsGroup: &no, OwnerHandle: &line},
		Direction: "inbound", SenderHandle: dave, Parts: text, Service: "iMessage",
	}
	sent := MessageEventData{
		ID: "m_2", Chat: MessageEventChat{ID: "chat_1", IsGroup: &no, OwnerHandle: &line},
		Direction: "outbound", SenderHandle: line, Parts: text, Service: "iMessage",
		IdempotencyKey: "k_2", SentAt: &at,
	}
	delivered, read := sent, sent
	delivered.DeliveredAt = &later
	read.ReadAt = &later

	cases := []struct {
		name, version, data string
		want                MessageEventData
	}{
		{
			name: "Received20260203", version: WebhookVersion20260203,
			data: `{"id":"m_1","chat":{"id":"chat_1","is_group":false,"owner_handle":{"handle":"+15550001000","is_me":true}},
				"direction":"inbound","sender_handle":{"handle":"+14155550161"},"parts":[{"type":"text","value":"hello"}],"service":"iMessage"}`,
			want: received,
		},
		{
			name: "Received20250101", version: WebhookVersion20250101,
			data: `{"chat_id":"chat_1","is_from_me":false,"is_group":false,"from_handle":{"handle":"+14155550161"},
				"recipient_handle":{"handle":"+15550001000","is_me":true},"service":"iMessage","received_at":"2026-05-01T12:00:00Z",
				"message":{"id":"m_1","parts":[{"type":"text","value":"hello"}]}}`,
			want: received,
		},
		{
			name: "Received20250101WithDeprecatedStrings", version: WebhookVersion20250101,
			data: `{"chat_id":"chat_1","is_from_me":false,"is_group":false,"from":"+14155550161","recipient_phone":"+15550001000",
				"service":"iMessage","message":{"id":"m_1","parts":[{"type":"text","value":"hello"}]}}`,
			want: MessageEventData{
				ID: "m_1", Chat: MessageEventChat{ID: "chat_1", IsGroup: &no, OwnerHandle: &ChatHandle{Handle: "+15550001000"}},
				Direction: "inbound", SenderHandle: dave, Parts: text, Service: "iMessage",
			},
		},
		{
			name: "Received20250101WithoutAVersionGoesByShape",
			data: `{"chat_id":"chat_1","is_from_me":false,"is_group":false,"from_handle":{"handle":"+14155550161"},
				"recipient_handle":{"handle":"+15550001000","is_me":true},"service":"iMessage",
				"message":{"id":"m_1","parts":[{"type":"text","value":"hello"}]}}`,
			want: received,
		},
		{
			name: "Received20260203WithoutAVersionGoesByShape",
			data: `{"id":"m_1","chat":{"id":"chat_1","is_group":false,"owner_handle":{"handle":"+15550001000","is_me":true}},
				"direction":"inbound","sender_handle":{"handle":"+14155550161"},"parts":[{"type":"text","value":"hello"}],"service":"iMessage"}`,
			want: received,
		},
		{
			name: "Sent20260203", version: WebhookVersion20260203,
			data: `{"id":"m_2","chat":{"id":"chat_1","is_group":false,"owner_handle":{"handle":"+15550001000","is_me":true}},
				"direction":"outbound","sender_handle":{"handle":"+15550001000","is_me":true},"parts":[{"type":"text","value":"hello"}],
				"service":"iMessage","idempotency_key":"k_2","sent_at":"2026-05-01T12:00:00Z"}`,
			want: sent,
		},
		{
			name: "Sent20250101", version: WebhookVersion20250101,
			data: `{"chat_id":"chat_1","is_from_me":true,"is_group":false,"from_handle":{"handle":"+15550001000","is_me":true},
				"recipient_handle":null,"service":"iMessage","idempotency_key":"k_2","received_at":null,
				"message":{"id":"m_2","parts":[{"type":"text","value":"hello"}],"sent_at":"2026-05-01T12:00:00Z"}}`,
			want: sent,
		},
		{
			name: "Delivered20250101", version: WebhookVersion20250101,
			data: `{"chat_id":"chat_1","is_from_me":true,"is_group":false,"from_handle":{"handle":"+15550001000","is_me":true},
				"service":"iMessage","idempotency_key":"k_2","message_id":"m_2","delivered_at":"2026-05-01T12:00:05Z",
				"message":{"id":"m_2","parts":[{"type":"text","value":"hello"}],"sent_at":"2026-05-01T12:00:00Z","is_delivered":true}}`,
			want: delivered,
		},
		{
			name: "Read20250101", version: WebhookVersion20250101,
			data: `{"chat_id":"chat_1","is_from_me":true,"is_group":false,"from_handle":{"handle":"+15550001000","is_me":true},
				"service":"iMessage","idempotency_key":"k_2","message_id":"m_2","read_at":"2026-05-01T12:00:05Z",
				"message":{"id":"m_2","parts":[{"type":"text","value":"hello"}],"sent_at":"2026-05-01T12:00:00Z","is_read":true}}`,
			want: read,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev := &WebhookEvent{EventID: "e", EventType: EventMessageReceived, WebhookVersion: c.version, Data: []byte(c.data)}
			var got MessageEventData
			require.NoError(t, ev.DecodeMessageEvent(&got))
			require.Equal(t, c.want, got)
		})
	}
}

func TestDecodeMessageFailed(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, version, data string
		want                MessageFailedData
	}{
		{
			name: "Failed20260203", version: WebhookVersion20260203,
			data: `{"code":4001,"failed_at":"2026-05-01T12:00:00Z","chat_id":"chat_1","message_id":"m_2","reason":"x","detail_code":null,"service":"SMS"}`,
			want: MessageFailedData{Code: 4001, FailedAt: at, ChatID: "chat_1", MessageID: "m_2", Reason: "x", Service: "SMS"},
		},
		{
			name: "Failed20250101", version: WebhookVersion20250101,
			data: `{"code":4001,"failed_at":"2026-05-01T12:00:00Z","chat_id":"chat_1","message_id":"m_2","reason":"x"}`,
			want: MessageFailedData{Code: 4001, FailedAt: at, ChatID: "chat_1", MessageID: "m_2", Reason: "x"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev := &WebhookEvent{EventID: "e", EventType: EventMessageFailed, WebhookVersion: c.version, Data: []byte(c.data)}
			var got MessageFailedData
			require.NoError(t, ev.DecodeMessageFailed(&got))
			require.Equal(t, c.want, got)
		})
	}
}
