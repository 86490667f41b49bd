package linq

import (
	"cmp"
	"encoding/json"
	"time"
)

// WebhookVersion20250101 is the legacy payload format, sent to
// subscriptions whose target URL has no ?version=2026-02-03 (wire doc
// §10.5), such as one an operator made by hand.
const WebhookVersion20250101 = "2025-01-01"

// DecodeMessageEvent decodes the data of message.sent, .received,
// .delivered or .read in either webhook version into the 2026-02-03 shape,
// so that processing has one representation of a message event.
func (e *WebhookEvent) DecodeMessageEvent(d *MessageEventData) error {
	if !e.legacyMessageData() {
		return e.DecodeData(d)
	}
	var l legacyMessageEventData
	if err := e.DecodeData(&l); err != nil {
		return err
	}
	*d = l.current()
	return nil
}

// DecodeMessageFailed decodes the data of message.failed. The 2025-01-01
// data ({code, failed_at, chat_id?, message_id?, reason?}) is a subset of
// the 2026-02-03 data, so both versions decode alike.
func (e *WebhookEvent) DecodeMessageFailed(d *MessageFailedData) error {
	return e.DecodeData(d)
}

// legacyMessageData reports whether a message event's data is in the
// 2025-01-01 format: by the envelope's webhook_version, or, without a
// version this package knows, by its shape (the message in "message",
// and no "chat").
func (e *WebhookEvent) legacyMessageData() bool {
	switch e.WebhookVersion {
	case WebhookVersion20250101:
		return true
	case WebhookVersion20260203:
		return false
	}
	var probe struct {
		Chat    json.RawMessage `json:"chat"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(e.Data, &probe) != nil {
		return false
	}
	return present(probe.Message) && !present(probe.Chat)
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// legacyMessageEventData is the data of message.sent, .received,
// .delivered and .read in the 2025-01-01 format (wire doc §10.5).
type legacyMessageEventData struct {
	ChatID   string `json:"chat_id"`
	IsFromMe bool   `json:"is_from_me"`
	IsGroup  *bool  `json:"is_group"`
	// From is the deprecated string form of FromHandle.
	From       string      `json:"from"`
	FromHandle *ChatHandle `json:"from_handle"`
	// RecipientHandle is our line on received (null on sent);
	// RecipientPhone its deprecated string form.
	RecipientHandle  *ChatHandle `json:"recipient_handle"`
	RecipientPhone   string      `json:"recipient_phone"`
	Service          string      `json:"service"`
	PreferredService string      `json:"preferred_service"`
	IdempotencyKey   string      `json:"idempotency_key"`
	ReceivedAt       *time.Time  `json:"received_at"`
	// MessageID, DeliveredAt and ReadAt are added on delivered and read.
	MessageID   string     `json:"message_id"`
	DeliveredAt *time.Time `json:"delivered_at"`
	ReadAt      *time.Time `json:"read_at"`
	Message     struct {
		ID          string         `json:"id"`
		Parts       []ResponsePart `json:"parts"`
		Effect      *Effect        `json:"effect"`
		ReplyTo     *ReplyTo       `json:"reply_to"`
		SentAt      *time.Time     `json:"sent_at"`
		DeliveredAt *time.Time     `json:"delivered_at"`
		ReadAt      *time.Time     `json:"read_at"`
	} `json:"message"`
}

// current is the data in the 2026-02-03 shape: the sender is from_handle,
// and our line (the chat's owner) is the sender on a message we sent and
// the recipient on one we received.
func (l *legacyMessageEventData) current() MessageEventData {
	sender := handleOr(l.FromHandle, l.From)
	owner := handleOr(l.RecipientHandle, l.RecipientPhone)
	direction := "inbound"
	if l.IsFromMe {
		owner, direction = sender, "outbound"
	}
	d := MessageEventData{
		ID:               cmp.Or(l.Message.ID, l.MessageID),
		Chat:             MessageEventChat{ID: l.ChatID, IsGroup: l.IsGroup},
		Direction:        direction,
		Parts:            l.Message.Parts,
		Service:          l.Service,
		PreferredService: l.PreferredService,
		IdempotencyKey:   l.IdempotencyKey,
		Effect:           l.Message.Effect,
		ReplyTo:          l.Message.ReplyTo,
		SentAt:           l.Message.SentAt,
		DeliveredAt:      cmp.Or(l.DeliveredAt, l.Message.DeliveredAt),
		ReadAt:           cmp.Or(l.ReadAt, l.Message.ReadAt),
	}
	if sender != nil {
		d.SenderHandle = *sender
	}
	if owner != nil && owner.Handle != "" {
		d.Chat.OwnerHandle = owner
	}
	return d
}

// handleOr is h, or a handle made of its deprecated string form s, or nil.
func handleOr(h *ChatHandle, s string) *ChatHandle {
	switch {
	case h != nil:
		return h
	case s != "":
		return &ChatHandle{Handle: s}
	}
	return nil
}
