package linq

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// ListPhoneNumbers lists the partner's lines with their reputation
// (GET /v3/phone_numbers). There is no pagination and no service status.
func (c *Client) ListPhoneNumbers(ctx context.Context) (*ListPhoneNumbersResponse, error) {
	return doJSON[ListPhoneNumbersResponse](ctx, c, call{
		op: "list_phone_numbers", method: http.MethodGet, path: "/v3/phone_numbers", retrySafe: true,
	})
}

// CreateChat creates the chat keyed by From and the set of To, or sends into
// the existing one, with its first message (POST /v3/chats). It is retried
// only when the message carries an idempotency key.
func (c *Client) CreateChat(ctx context.Context, req CreateChatRequest) (*CreateChatResponse, error) {
	msg, err := normalizeContent(req.Message)
	if err != nil {
		return nil, err
	}
	req.Message = msg
	return doJSON[CreateChatResponse](ctx, c, call{
		op: "create_chat", method: http.MethodPost, path: "/v3/chats", body: req,
		retrySafe: msg.IdempotencyKey != "",
	})
}

// GetChat fetches one chat (GET /v3/chats/{id}).
func (c *Client) GetChat(ctx context.Context, chatID string) (*Chat, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	return doJSON[Chat](ctx, c, call{
		op: "get_chat", method: http.MethodGet, path: "/v3/chats/" + id, retrySafe: true,
	})
}

// ListChats lists one page of chats (GET /v3/chats). Pass the returned
// NextCursor as Cursor for the next page; empty means done.
func (c *Client) ListChats(ctx context.Context, p ListChatsParams) (*ListChatsResponse, error) {
	q := url.Values{}
	setQuery(q, "from", p.From)
	setQuery(q, "to", p.To)
	setQuery(q, "cursor", p.Cursor)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return doJSON[ListChatsResponse](ctx, c, call{
		op: "list_chats", method: http.MethodGet, path: "/v3/chats", query: q, retrySafe: true,
	})
}

// SendMessage sends a message into an existing chat
// (POST /v3/chats/{id}/messages). It is retried only when the message carries
// an idempotency key; without one a failed send is never repeated.
func (c *Client) SendMessage(ctx context.Context, chatID string, req SendMessageRequest) (*SendMessageResponse, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	msg, err := normalizeContent(req.Message)
	if err != nil {
		return nil, err
	}
	req.Message = msg
	return doJSON[SendMessageResponse](ctx, c, call{
		op: "send_message", method: http.MethodPost, path: "/v3/chats/" + id + "/messages", body: req,
		retrySafe: msg.IdempotencyKey != "",
	})
}

// CreateMessage sends without naming a line and lets Linq pick one
// (POST /v3/messages, 202). Linegate itself always sends with an explicit
// line; this exists for tools and tests. Retried only with an idempotency key
// (header or message).
func (c *Client) CreateMessage(ctx context.Context, req CreateMessageRequest) (*CreateMessageResponse, error) {
	msg, err := normalizeContent(req.Message)
	if err != nil {
		return nil, err
	}
	req.Message = msg
	var hdr map[string]string
	if req.IdempotencyKey != "" {
		hdr = map[string]string{"Idempotency-Key": req.IdempotencyKey}
	}
	return doJSON[CreateMessageResponse](ctx, c, call{
		op: "create_message", method: http.MethodPost, path: "/v3/messages", body: req, header: hdr,
		retrySafe: msg.IdempotencyKey != "" || req.IdempotencyKey != "",
	})
}

// ListMessages lists one page of a chat's messages
// (GET /v3/chats/{id}/messages).
func (c *Client) ListMessages(ctx context.Context, chatID string, p ListMessagesParams) (*ListMessagesResponse, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setQuery(q, "cursor", p.Cursor)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return doJSON[ListMessagesResponse](ctx, c, call{
		op: "list_messages", method: http.MethodGet, path: "/v3/chats/" + id + "/messages", query: q,
		retrySafe: true,
	})
}

// GetMessage fetches one message (GET /v3/messages/{id}).
func (c *Client) GetMessage(ctx context.Context, messageID string) (*Message, error) {
	id, err := pathID("message", messageID)
	if err != nil {
		return nil, err
	}
	return doJSON[Message](ctx, c, call{
		op: "get_message", method: http.MethodGet, path: "/v3/messages/" + id, retrySafe: true,
	})
}

// EditMessage edits a text part of a sent message (PATCH /v3/messages/{id});
// at most 5 edits within 15 minutes. Not retried: a repeat would count as
// another edit.
func (c *Client) EditMessage(ctx context.Context, messageID string, req EditMessageRequest) (*Message, error) {
	id, err := pathID("message", messageID)
	if err != nil {
		return nil, err
	}
	return doJSON[Message](ctx, c, call{
		op: "edit_message", method: http.MethodPatch, path: "/v3/messages/" + id, body: req,
	})
}

// DeleteMessage deletes a message from Linq's storage (not an unsend)
// (DELETE /v3/messages/{id}).
func (c *Client) DeleteMessage(ctx context.Context, messageID string) (*Ack, error) {
	id, err := pathID("message", messageID)
	if err != nil {
		return nil, err
	}
	return doAck(ctx, c, call{
		op: "delete_message", method: http.MethodDelete, path: "/v3/messages/" + id, retrySafe: true,
	})
}

// React adds or removes a reaction (POST /v3/messages/{id}/reactions).
func (c *Client) React(ctx context.Context, messageID string, req ReactRequest) (*ActionResponse, error) {
	id, err := pathID("message", messageID)
	if err != nil {
		return nil, err
	}
	return doJSON[ActionResponse](ctx, c, call{
		op: "react", method: http.MethodPost, path: "/v3/messages/" + id + "/reactions", body: req,
	})
}

// StartTyping shows the typing indicator (POST /v3/chats/{id}/typing, 204).
// Repeating it is harmless, so it is retried.
func (c *Client) StartTyping(ctx context.Context, chatID string) (*Ack, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	return doAck(ctx, c, call{
		op: "start_typing", method: http.MethodPost, path: "/v3/chats/" + id + "/typing", retrySafe: true,
	})
}

// StopTyping hides the typing indicator (DELETE /v3/chats/{id}/typing, 204).
func (c *Client) StopTyping(ctx context.Context, chatID string) (*Ack, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	return doAck(ctx, c, call{
		op: "stop_typing", method: http.MethodDelete, path: "/v3/chats/" + id + "/typing", retrySafe: true,
	})
}

// MarkRead marks every message in a chat read (POST /v3/chats/{id}/read).
func (c *Client) MarkRead(ctx context.Context, chatID string) (*Ack, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	return doAck(ctx, c, call{
		op: "mark_read", method: http.MethodPost, path: "/v3/chats/" + id + "/read", retrySafe: true,
	})
}

// ShareContactCard shares the line's contact card into a chat
// (POST /v3/chats/{id}/share_contact_card). Not retried: a repeat shares twice.
func (c *Client) ShareContactCard(ctx context.Context, chatID string) (*Ack, error) {
	id, err := pathID("chat", chatID)
	if err != nil {
		return nil, err
	}
	return doAck(ctx, c, call{
		op: "share_contact_card", method: http.MethodPost, path: "/v3/chats/" + id + "/share_contact_card",
	})
}

// CheckIMessage asks whether an address can be reached over iMessage
// (POST /v3/capability/check_imessage). A read, so it is retried.
func (c *Client) CheckIMessage(ctx context.Context, req CapabilityCheckRequest) (*CapabilityCheckResponse, error) {
	return doJSON[CapabilityCheckResponse](ctx, c, call{
		op: "check_imessage", method: http.MethodPost, path: "/v3/capability/check_imessage", body: req,
		retrySafe: true,
	})
}

// CheckRCS asks whether a phone number can be reached over RCS
// (POST /v3/capability/check_rcs). A 503 with code 4004/4009/4010 is a
// sender-side fault: treat it as unknown, never as "no".
func (c *Client) CheckRCS(ctx context.Context, req CapabilityCheckRequest) (*CapabilityCheckResponse, error) {
	return doJSON[CapabilityCheckResponse](ctx, c, call{
		op: "check_rcs", method: http.MethodPost, path: "/v3/capability/check_rcs", body: req,
		retrySafe: true,
	})
}

// GetContactCard lists contact cards, for one line when phoneNumber is set
// (GET /v3/contact_card).
func (c *Client) GetContactCard(ctx context.Context, phoneNumber string) (*ContactCardsResponse, error) {
	q := url.Values{}
	setQuery(q, "phone_number", phoneNumber)
	return doJSON[ContactCardsResponse](ctx, c, call{
		op: "get_contact_card", method: http.MethodGet, path: "/v3/contact_card", query: q, retrySafe: true,
	})
}

// CreateContactCard sets up a line's contact card (POST /v3/contact_card);
// 409/2014 when one is already active.
func (c *Client) CreateContactCard(ctx context.Context, req CreateContactCardRequest) (*ContactCard, error) {
	return doJSON[ContactCard](ctx, c, call{
		op: "create_contact_card", method: http.MethodPost, path: "/v3/contact_card", body: req,
	})
}

// UpdateContactCard merges changes into a line's contact card
// (PATCH /v3/contact_card?phone_number=…).
func (c *Client) UpdateContactCard(ctx context.Context, req UpdateContactCardRequest) (*ContactCard, error) {
	if req.PhoneNumber == "" {
		return nil, notAttempted("contact card phone number is empty")
	}
	q := url.Values{"phone_number": {req.PhoneNumber}}
	return doJSON[ContactCard](ctx, c, call{
		op: "update_contact_card", method: http.MethodPatch, path: "/v3/contact_card", query: q, body: req,
		retrySafe: true,
	})
}

// CreateWebhookSubscription subscribes a target URL to events
// (POST /v3/webhook-subscriptions). The answer holds the signing secret,
// which Linq shows only here.
func (c *Client) CreateWebhookSubscription(ctx context.Context, req CreateWebhookSubscriptionRequest) (*WebhookSubscription, error) {
	return doJSON[WebhookSubscription](ctx, c, call{
		op: "create_webhook_subscription", method: http.MethodPost, path: "/v3/webhook-subscriptions", body: req,
	})
}

// ListWebhookSubscriptions lists subscriptions (GET /v3/webhook-subscriptions).
func (c *Client) ListWebhookSubscriptions(ctx context.Context) (*ListWebhookSubscriptionsResponse, error) {
	return doJSON[ListWebhookSubscriptionsResponse](ctx, c, call{
		op: "list_webhook_subscriptions", method: http.MethodGet, path: "/v3/webhook-subscriptions",
		retrySafe: true,
	})
}

// UpdateWebhookSubscription changes a subscription
// (PUT /v3/webhook-subscriptions/{id}); the secret cannot change.
func (c *Client) UpdateWebhookSubscription(ctx context.Context, subscriptionID string, req UpdateWebhookSubscriptionRequest) (*WebhookSubscription, error) {
	id, err := pathID("subscription", subscriptionID)
	if err != nil {
		return nil, err
	}
	return doJSON[WebhookSubscription](ctx, c, call{
		op: "update_webhook_subscription", method: http.MethodPut, path: "/v3/webhook-subscriptions/" + id,
		body: req, retrySafe: true,
	})
}

// DeleteWebhookSubscription removes a subscription
// (DELETE /v3/webhook-subscriptions/{id}).
func (c *Client) DeleteWebhookSubscription(ctx context.Context, subscriptionID string) (*Ack, error) {
	id, err := pathID("subscription", subscriptionID)
	if err != nil {
		return nil, err
	}
	return doAck(ctx, c, call{
		op: "delete_webhook_subscription", method: http.MethodDelete, path: "/v3/webhook-subscriptions/" + id,
		retrySafe: true,
	})
}

func setQuery(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// normalizeContent returns a copy of m in which every part has its type set,
// inferred from the fields when the caller left it empty.
func normalizeContent(m MessageContent) (MessageContent, error) {
	if len(m.Parts) == 0 {
		return m, nil
	}
	parts := make([]Part, len(m.Parts))
	for i, p := range m.Parts {
		if p.Type == "" {
			switch {
			case p.App != nil:
				p.Type = PartIMessageApp
			case p.URL != "" || p.AttachmentID != "":
				p.Type = PartMedia
			case p.Value != "":
				p.Type = PartText
			default:
				return m, notAttempted("message part %d has no type and no content", i)
			}
		}
		parts[i] = p
	}
	m.Parts = parts
	return m, nil
}
