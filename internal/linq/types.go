package linq

import "time"

// Service types (wire doc §2). Linq spells iMessage in mixed case.
const (
	ServiceIMessage = "iMessage"
	ServiceSMS      = "SMS"
	ServiceRCS      = "RCS"
)

// Part types for request and response parts (wire doc §2).
const (
	PartText        = "text"
	PartMedia       = "media"
	PartLink        = "link"
	PartIMessageApp = "imessage_app"
	PartAppClip     = "app_clip"
)

// Line reputation and chat health statuses (wire doc §2, §3).
const (
	ReputationHealthy  = "HEALTHY"
	ReputationAtRisk   = "AT_RISK"
	ReputationCritical = "CRITICAL"
	HealthOptedOut     = "OPTED_OUT"
)

// Line service statuses; they appear only in phone_number.status_updated.
const (
	LineStatusActive  = "ACTIVE"
	LineStatusFlagged = "FLAGGED"
)

// Reaction operations for React.
const (
	ReactionAdd    = "add"
	ReactionRemove = "remove"
)

// ResponseMeta carries Linq's trace_id for a response. It is filled from the
// body's `trace_id` when the endpoint returns one ({message,status,trace_id}
// action responses), otherwise from the X-Trace-Id response header when Linq
// sends it. Empty when Linq gave neither.
type ResponseMeta struct {
	TraceID string `json:"trace_id,omitempty"`
}

func (m *ResponseMeta) setTraceID(id string) {
	if m.TraceID == "" {
		m.TraceID = id
	}
}

// Ack is the result of an endpoint that answers without a body (typing,
// delete, share contact card, mark read, subscription delete).
type Ack struct {
	ResponseMeta
	StatusCode int `json:"-"`
}

// ChatHandle is one participant of a chat (wire doc §2).
type ChatHandle struct {
	ID       string     `json:"id"`
	Handle   string     `json:"handle"`
	JoinedAt time.Time  `json:"joined_at"`
	Service  string     `json:"service"`
	IsMe     *bool      `json:"is_me,omitempty"`
	LeftAt   *time.Time `json:"left_at,omitempty"`
	Status   string     `json:"status,omitempty"`
}

// Effect is an iMessage screen or bubble effect.
type Effect struct {
	Type string `json:"type,omitempty"`
	Name string `json:"name,omitempty"`
}

// ReplyTo threads a message under another one.
type ReplyTo struct {
	MessageID string `json:"message_id"`
	PartIndex *int   `json:"part_index,omitempty"`
}

// TextDecoration styles or animates a UTF-16 range of a text part.
type TextDecoration struct {
	Range     []int  `json:"range"`
	Style     string `json:"style,omitempty"`
	Animation string `json:"animation,omitempty"`
}

// IMessageApp identifies the Messages app extension behind an imessage_app part.
type IMessageApp struct {
	BundleID   string `json:"bundle_id"`
	Name       string `json:"name"`
	TeamID     string `json:"team_id"`
	AppStoreID *int64 `json:"app_store_id,omitempty"`
}

// IMessageAppLayout is the visible layout of an imessage_app card.
type IMessageAppLayout struct {
	Caption            string `json:"caption,omitempty"`
	Subcaption         string `json:"subcaption,omitempty"`
	TrailingCaption    string `json:"trailing_caption,omitempty"`
	TrailingSubcaption string `json:"trailing_subcaption,omitempty"`
	ImageURL           string `json:"image_url,omitempty"`
	ImageTitle         string `json:"image_title,omitempty"`
	ImageSubtitle      string `json:"image_subtitle,omitempty"`
}

// Part is one request part of a message. Type may be left empty: the client
// infers it from the fields set (App → imessage_app, URL or AttachmentID →
// media, Value → text) and always sends it, because Linq rejects a part
// without a type. Use a link part by setting Type to PartLink explicitly.
type Part struct {
	Type            string             `json:"type"`
	Value           string             `json:"value,omitempty"`
	TextDecorations []TextDecoration   `json:"text_decorations,omitempty"`
	Mention         string             `json:"mention,omitempty"`
	MentionRange    []int              `json:"mention_range,omitempty"`
	URL             string             `json:"url,omitempty"`
	AttachmentID    string             `json:"attachment_id,omitempty"`
	App             *IMessageApp       `json:"app,omitempty"`
	Layout          *IMessageAppLayout `json:"layout,omitempty"`
	FallbackText    string             `json:"fallback_text,omitempty"`
	Interactive     *bool              `json:"interactive,omitempty"`
}

// TextPart returns a text part.
func TextPart(text string) Part { return Part{Type: PartText, Value: text} }

// MediaURLPart returns a media part that Linq downloads from a public HTTPS URL.
func MediaURLPart(url string) Part { return Part{Type: PartMedia, URL: url} }

// LinkPart returns a link part (rich preview); it must be a message's only part.
func LinkPart(url string) Part { return Part{Type: PartLink, Value: url} }

// MessageContent is the `message` object of every send (wire doc §5.1).
type MessageContent struct {
	Parts            []Part   `json:"parts"`
	IdempotencyKey   string   `json:"idempotency_key,omitempty"`
	PreferredService string   `json:"preferred_service,omitempty"`
	Effect           *Effect  `json:"effect,omitempty"`
	ReplyTo          *ReplyTo `json:"reply_to,omitempty"`
}

// Sticker describes a sticker reaction.
type Sticker struct {
	FileName string `json:"file_name,omitempty"`
	Height   int    `json:"height,omitempty"`
	Width    int    `json:"width,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	URL      string `json:"url,omitempty"`
}

// Reaction is a reaction on a response part.
type Reaction struct {
	Handle      ChatHandle `json:"handle"`
	IsMe        bool       `json:"is_me"`
	Type        string     `json:"type"`
	CustomEmoji string     `json:"custom_emoji,omitempty"`
	Sticker     *Sticker   `json:"sticker,omitempty"`
}

// ResponsePart is a part as Linq returns it; which fields are set depends on Type.
type ResponsePart struct {
	Type            string             `json:"type"`
	Value           string             `json:"value,omitempty"`
	TextDecorations []TextDecoration   `json:"text_decorations,omitempty"`
	Mention         string             `json:"mention,omitempty"`
	MentionRange    []int              `json:"mention_range,omitempty"`
	ID              string             `json:"id,omitempty"`
	Filename        string             `json:"filename,omitempty"`
	MimeType        string             `json:"mime_type,omitempty"`
	SizeBytes       int64              `json:"size_bytes,omitempty"`
	URL             string             `json:"url,omitempty"`
	App             *IMessageApp       `json:"app,omitempty"`
	Layout          *IMessageAppLayout `json:"layout,omitempty"`
	FallbackText    string             `json:"fallback_text,omitempty"`
	Title           string             `json:"title,omitempty"`
	Description     string             `json:"description,omitempty"`
	ImageURL        string             `json:"image_url,omitempty"`
	Reactions       []Reaction         `json:"reactions,omitempty"`
}

// ChatHealthStatus is a chat's health (wire doc §2). Decide opt-out on the
// 403/2024, not on this field.
type ChatHealthStatus struct {
	Status    string    `json:"status"`
	DocURL    string    `json:"doc_url"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Chat is a chat as returned by GET /v3/chats/{id} and the chat list.
type Chat struct {
	ResponseMeta
	ID            string           `json:"id"`
	CreatedAt     time.Time        `json:"created_at"`
	UpdatedAt     time.Time        `json:"updated_at"`
	DisplayName   string           `json:"display_name,omitempty"`
	Handles       []ChatHandle     `json:"handles"`
	HealthStatus  ChatHealthStatus `json:"health_status"`
	IsGroup       bool             `json:"is_group"`
	IsArchived    bool             `json:"is_archived"`
	GroupChatIcon string           `json:"group_chat_icon,omitempty"`
	Service       string           `json:"service,omitempty"`
}

// SentMessage is the message in send and create responses.
type SentMessage struct {
	ID               string         `json:"id"`
	CreatedAt        time.Time      `json:"created_at"`
	DeliveryStatus   string         `json:"delivery_status"`
	IsRead           bool           `json:"is_read"`
	Parts            []ResponsePart `json:"parts"`
	SentAt           *time.Time     `json:"sent_at,omitempty"`
	DeliveredAt      *time.Time     `json:"delivered_at,omitempty"`
	Effect           *Effect        `json:"effect,omitempty"`
	FromHandle       *ChatHandle    `json:"from_handle,omitempty"`
	PreferredService string         `json:"preferred_service,omitempty"`
	ReplyTo          *ReplyTo       `json:"reply_to,omitempty"`
	Service          string         `json:"service,omitempty"`
}

// Message is a message as returned by GET /v3/messages/{id} and message lists.
type Message struct {
	ResponseMeta
	ID               string         `json:"id"`
	ChatID           string         `json:"chat_id"`
	CreatedAt        time.Time      `json:"created_at"`
	UpdatedAt        time.Time      `json:"updated_at"`
	DeliveryStatus   string         `json:"delivery_status"`
	IsFromMe         bool           `json:"is_from_me"`
	IsDelivered      bool           `json:"is_delivered"`
	IsRead           bool           `json:"is_read"`
	SentAt           *time.Time     `json:"sent_at,omitempty"`
	DeliveredAt      *time.Time     `json:"delivered_at,omitempty"`
	ReadAt           *time.Time     `json:"read_at,omitempty"`
	From             string         `json:"from,omitempty"`
	FromHandle       *ChatHandle    `json:"from_handle,omitempty"`
	Parts            []ResponsePart `json:"parts,omitempty"`
	Effect           *Effect        `json:"effect,omitempty"`
	ReplyTo          *ReplyTo       `json:"reply_to,omitempty"`
	Service          string         `json:"service,omitempty"`
	PreferredService string         `json:"preferred_service,omitempty"`
	ReconciledAt     *time.Time     `json:"reconciled_at,omitempty"`
}

// LineReputation is a line's reputation as listed by GET /v3/phone_numbers.
type LineReputation struct {
	Status string `json:"status"`
	DocURL string `json:"doc_url"`
}

// PhoneNumber is one of the partner's lines (wire doc §3).
type PhoneNumber struct {
	ID          string         `json:"id"`
	PhoneNumber string         `json:"phone_number"`
	Reputation  LineReputation `json:"reputation"`
	// HealthStatus is Linq's deprecated copy of Reputation; use
	// ReputationStatus, which falls back to it.
	HealthStatus     *LineReputation `json:"health_status,omitempty"`
	ForwardingNumber string          `json:"forwarding_number,omitempty"`
}

// ReputationStatus returns the line's reputation, falling back to the
// deprecated health_status copy, and HEALTHY when neither is set (Linq's
// default for a line that has not been scored).
func (p PhoneNumber) ReputationStatus() string {
	if p.Reputation.Status != "" {
		return p.Reputation.Status
	}
	if p.HealthStatus != nil && p.HealthStatus.Status != "" {
		return p.HealthStatus.Status
	}
	return ReputationHealthy
}

// ListPhoneNumbersResponse is the answer of GET /v3/phone_numbers.
type ListPhoneNumbersResponse struct {
	ResponseMeta
	PhoneNumbers []PhoneNumber `json:"phone_numbers"`
}

// CreateChatRequest is the body of POST /v3/chats. A chat is keyed by From and
// the set of To; repeating the call sends into the existing chat.
type CreateChatRequest struct {
	From           string         `json:"from"`
	To             []string       `json:"to"`
	Message        MessageContent `json:"message"`
	OverrideOptout bool           `json:"override_optout,omitempty"`
}

// CreatedChat is the chat in a CreateChatResponse.
type CreatedChat struct {
	ID           string           `json:"id"`
	DisplayName  string           `json:"display_name,omitempty"`
	Handles      []ChatHandle     `json:"handles"`
	HealthStatus ChatHealthStatus `json:"health_status"`
	IsGroup      bool             `json:"is_group"`
	Service      string           `json:"service,omitempty"`
	Message      SentMessage      `json:"message"`
}

// CreateChatResponse is the answer of POST /v3/chats.
type CreateChatResponse struct {
	ResponseMeta
	Chat CreatedChat `json:"chat"`
}

// ListChatsParams filters GET /v3/chats. Cursor is opaque: pass the previous
// NextCursor; an empty NextCursor means the list is done.
type ListChatsParams struct {
	From   string
	To     string
	Limit  int
	Cursor string
}

// ListChatsResponse is one page of GET /v3/chats.
type ListChatsResponse struct {
	ResponseMeta
	Chats      []Chat `json:"chats"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// SendMessageRequest is the body of POST /v3/chats/{id}/messages.
type SendMessageRequest struct {
	Message        MessageContent `json:"message"`
	OverrideOptout bool           `json:"override_optout,omitempty"`
}

// SendMessageResponse is the answer of POST /v3/chats/{id}/messages.
type SendMessageResponse struct {
	ResponseMeta
	ChatID  string      `json:"chat_id"`
	Message SentMessage `json:"message"`
}

// CreateMessageRequest is the body of POST /v3/messages (Linq picks the line).
// IdempotencyKey, when set, is sent as the Idempotency-Key header.
type CreateMessageRequest struct {
	To             []string       `json:"to"`
	Message        MessageContent `json:"message"`
	OverrideOptout bool           `json:"override_optout,omitempty"`
	ExcludeFrom    []string       `json:"exclude_from,omitempty"`
	IdempotencyKey string         `json:"-"`
}

// FromSelection tells why Linq picked the line of a POST /v3/messages send.
type FromSelection struct {
	Reason             string `json:"reason"`
	ReusedExistingChat bool   `json:"reused_existing_chat"`
}

// CreateMessageResponse is the answer (202) of POST /v3/messages.
type CreateMessageResponse struct {
	ResponseMeta
	ChatID         string        `json:"chat_id"`
	CreatedNewChat bool          `json:"created_new_chat"`
	From           string        `json:"from"`
	FromSelection  FromSelection `json:"from_selection"`
	Handles        []ChatHandle  `json:"handles"`
	IsGroup        bool          `json:"is_group"`
	Message        SentMessage   `json:"message"`
	Service        string        `json:"service,omitempty"`
	PreviousChatID string        `json:"previous_chat_id,omitempty"`
}

// ListMessagesParams pages GET /v3/chats/{id}/messages.
type ListMessagesParams struct {
	Limit  int
	Cursor string
}

// ListMessagesResponse is one page of a chat's messages.
type ListMessagesResponse struct {
	ResponseMeta
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// EditMessageRequest is the body of PATCH /v3/messages/{id}.
type EditMessageRequest struct {
	Text      string `json:"text"`
	PartIndex *int   `json:"part_index,omitempty"`
}

// ReactRequest is the body of POST /v3/messages/{id}/reactions.
type ReactRequest struct {
	Operation   string `json:"operation"`
	Type        string `json:"type"`
	CustomEmoji string `json:"custom_emoji,omitempty"`
	PartIndex   *int   `json:"part_index,omitempty"`
}

// ActionResponse is Linq's `{message, status, trace_id}` answer.
type ActionResponse struct {
	ResponseMeta
	Message string `json:"message,omitempty"`
	Status  string `json:"status,omitempty"`
}

// CapabilityCheckRequest is the body of the capability checks. From is
// optional (Linq picks a line).
type CapabilityCheckRequest struct {
	Address string `json:"address"`
	From    string `json:"from,omitempty"`
}

// CapabilityCheckResponse answers a capability check.
type CapabilityCheckResponse struct {
	ResponseMeta
	Address         string `json:"address"`
	Available       bool   `json:"available"`
	Reason          string `json:"reason,omitempty"`
	SelectedService string `json:"selected_service,omitempty"`
}

// ContactCard is a line's contact card (wire doc §8).
type ContactCard struct {
	ResponseMeta
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	ImageURL    string `json:"image_url,omitempty"`
	IsActive    bool   `json:"is_active"`
}

// CreateContactCardRequest is the body of POST /v3/contact_card.
type CreateContactCardRequest struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	ImageURL    string `json:"image_url,omitempty"`
}

// UpdateContactCardRequest is the merge body of PATCH /v3/contact_card.
type UpdateContactCardRequest struct {
	PhoneNumber string  `json:"-"`
	FirstName   *string `json:"first_name,omitempty"`
	LastName    *string `json:"last_name,omitempty"`
	ImageURL    *string `json:"image_url,omitempty"`
}

// ContactCardsResponse is the answer of GET /v3/contact_card.
type ContactCardsResponse struct {
	ResponseMeta
	ContactCards []ContactCard `json:"contact_cards"`
}

// WebhookSubscription is a webhook subscription (wire doc §9).
type WebhookSubscription struct {
	ResponseMeta
	ID               string    `json:"id"`
	TargetURL        string    `json:"target_url"`
	SubscribedEvents []string  `json:"subscribed_events"`
	IsActive         bool      `json:"is_active"`
	PhoneNumbers     []string  `json:"phone_numbers,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// SigningSecret is returned only by CreateWebhookSubscription.
	SigningSecret string `json:"signing_secret,omitempty"`
}

// CreateWebhookSubscriptionRequest is the body of POST /v3/webhook-subscriptions.
// Append `?version=2026-02-03` to TargetURL for the newer payload format.
type CreateWebhookSubscriptionRequest struct {
	TargetURL        string   `json:"target_url"`
	SubscribedEvents []string `json:"subscribed_events"`
	PhoneNumbers     []string `json:"phone_numbers,omitempty"`
}

// UpdateWebhookSubscriptionRequest is the body of PUT
// /v3/webhook-subscriptions/{id}. Nil fields are left unchanged; a non-nil
// PhoneNumbers pointing at an empty slice removes the line filter.
type UpdateWebhookSubscriptionRequest struct {
	TargetURL        *string   `json:"target_url,omitempty"`
	SubscribedEvents []string  `json:"subscribed_events,omitempty"`
	IsActive         *bool     `json:"is_active,omitempty"`
	PhoneNumbers     *[]string `json:"phone_numbers,omitempty"`
}

// ListWebhookSubscriptionsResponse is the answer of GET /v3/webhook-subscriptions.
type ListWebhookSubscriptionsResponse struct {
	ResponseMeta
	Subscriptions []WebhookSubscription `json:"subscriptions"`
}
