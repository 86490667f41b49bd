package linqsim

import (
	"encoding/json"
	"time"
)

// The w* types are the simulator's JSON output, field for field as the wire
// doc lists them, with explicit nulls where Linq sends null.

type wHandle struct {
	ID       string     `json:"id"`
	Handle   string     `json:"handle"`
	JoinedAt time.Time  `json:"joined_at"`
	Service  string     `json:"service"`
	IsMe     bool       `json:"is_me"`
	LeftAt   *time.Time `json:"left_at"`
	Status   string     `json:"status"`
}

type wHealth struct {
	Status    string    `json:"status"`
	DocURL    string    `json:"doc_url"`
	UpdatedAt time.Time `json:"updated_at"`
}

type wEffect struct {
	Type string `json:"type,omitempty"`
	Name string `json:"name,omitempty"`
}

type wReplyTo struct {
	MessageID string `json:"message_id"`
	PartIndex int    `json:"part_index"`
}

type wChat struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	DisplayName   string    `json:"display_name"`
	Handles       []wHandle `json:"handles"`
	HealthStatus  wHealth   `json:"health_status"`
	IsGroup       bool      `json:"is_group"`
	IsArchived    bool      `json:"is_archived"`
	GroupChatIcon *string   `json:"group_chat_icon"`
	Service       string    `json:"service"`
}

type wCreatedChat struct {
	ID           string       `json:"id"`
	DisplayName  string       `json:"display_name"`
	Handles      []wHandle    `json:"handles"`
	HealthStatus wHealth      `json:"health_status"`
	IsGroup      bool         `json:"is_group"`
	Service      string       `json:"service"`
	Message      wSentMessage `json:"message"`
}

type wSentMessage struct {
	ID               string     `json:"id"`
	CreatedAt        time.Time  `json:"created_at"`
	DeliveryStatus   string     `json:"delivery_status"`
	IsRead           bool       `json:"is_read"`
	Parts            []partOut  `json:"parts"`
	SentAt           *time.Time `json:"sent_at"`
	DeliveredAt      *time.Time `json:"delivered_at"`
	Effect           *wEffect   `json:"effect"`
	FromHandle       *wHandle   `json:"from_handle"`
	PreferredService *string    `json:"preferred_service"`
	ReplyTo          *wReplyTo  `json:"reply_to"`
	Service          string     `json:"service"`
}

type wMessage struct {
	ID               string     `json:"id"`
	ChatID           string     `json:"chat_id"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	DeliveryStatus   string     `json:"delivery_status"`
	IsFromMe         bool       `json:"is_from_me"`
	IsDelivered      bool       `json:"is_delivered"`
	IsRead           bool       `json:"is_read"`
	SentAt           *time.Time `json:"sent_at"`
	DeliveredAt      *time.Time `json:"delivered_at"`
	ReadAt           *time.Time `json:"read_at"`
	From             string     `json:"from"`
	FromHandle       *wHandle   `json:"from_handle"`
	Parts            []partOut  `json:"parts"`
	Effect           *wEffect   `json:"effect"`
	ReplyTo          *wReplyTo  `json:"reply_to"`
	Service          string     `json:"service"`
	PreferredService *string    `json:"preferred_service"`
}

// partOut renders a stored part; in API responses every part carries its
// reactions, in webhook payloads it does not.
type partOut struct {
	p       *part
	webhook bool
}

type wReaction struct {
	Handle      wHandle `json:"handle"`
	IsMe        bool    `json:"is_me"`
	Type        string  `json:"type"`
	CustomEmoji *string `json:"custom_emoji"`
	Sticker     *string `json:"sticker"`
}

func (o partOut) reactions() []wReaction {
	out := make([]wReaction, 0, len(o.p.reactions))
	for _, r := range o.p.reactions {
		wr := wReaction{Handle: r.handle, IsMe: r.handle.IsMe, Type: r.typ}
		if r.customEmoji != "" {
			ce := r.customEmoji
			wr.CustomEmoji = &ce
		}
		out = append(out, wr)
	}
	return out
}

// apiReactions is the part's reactions list for API responses, where the
// SDK requires it on every part (empty included); nil in webhook payloads,
// which carry none.
func (o partOut) apiReactions() *[]wReaction {
	if o.webhook {
		return nil
	}
	r := o.reactions()
	return &r
}

func nullableRaw(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

func (o partOut) MarshalJSON() ([]byte, error) {
	p := o.p
	switch p.typ {
	case "text":
		if o.webhook {
			return json.Marshal(struct {
				Type            string          `json:"type"`
				Value           string          `json:"value"`
				TextDecorations json.RawMessage `json:"text_decorations,omitempty"`
			}{p.typ, p.value, p.decorations})
		}
		var mention *string
		if p.mention != "" {
			mention = &p.mention
		}
		return json.Marshal(struct {
			Type            string          `json:"type"`
			Value           string          `json:"value"`
			TextDecorations json.RawMessage `json:"text_decorations"`
			Mention         *string         `json:"mention"`
			MentionRange    []int           `json:"mention_range"`
			Reactions       []wReaction     `json:"reactions"`
		}{p.typ, p.value, nullableRaw(p.decorations), mention, p.mentionRange, o.reactions()})
	case "media":
		return json.Marshal(struct {
			Type      string       `json:"type"`
			ID        string       `json:"id"`
			Filename  string       `json:"filename"`
			MimeType  string       `json:"mime_type"`
			SizeBytes int64        `json:"size_bytes"`
			URL       string       `json:"url"`
			Reactions *[]wReaction `json:"reactions,omitempty"`
		}{p.typ, p.mediaID, p.filename, p.mimeType, 102400, p.url, o.apiReactions()})
	case "imessage_app":
		var fb *string
		if p.fallbackText != "" {
			fb = &p.fallbackText
		}
		return json.Marshal(struct {
			Type         string          `json:"type"`
			App          json.RawMessage `json:"app"`
			Layout       json.RawMessage `json:"layout"`
			URL          string          `json:"url"`
			FallbackText *string         `json:"fallback_text"`
			Reactions    *[]wReaction    `json:"reactions,omitempty"`
		}{p.typ, nullableRaw(p.app), nullableRaw(p.layout), p.url, fb, o.apiReactions()})
	default: // link, app_clip
		return json.Marshal(struct {
			Type      string       `json:"type"`
			Value     string       `json:"value"`
			Reactions *[]wReaction `json:"reactions,omitempty"`
		}{p.typ, p.value, o.apiReactions()})
	}
}

func tptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func sptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Everything below reads message state: call with m.chat.mu held.

func partsOut(parts []part, webhook bool) []partOut {
	out := make([]partOut, len(parts))
	for i := range parts {
		out[i] = partOut{p: &parts[i], webhook: webhook}
	}
	return out
}

func (m *message) sentJSON() wSentMessage {
	var from *wHandle
	if !m.inbound {
		h := m.sender
		from = &h
	}
	return wSentMessage{
		ID:               m.id,
		CreatedAt:        m.createdAt,
		DeliveryStatus:   m.status,
		IsRead:           m.status == "read",
		Parts:            partsOut(m.parts, false),
		SentAt:           tptr(m.sentAt),
		DeliveredAt:      tptr(m.deliveredAt),
		Effect:           m.effect,
		FromHandle:       from,
		PreferredService: sptr(m.preferredService),
		ReplyTo:          m.replyTo,
		Service:          m.chat.service,
	}
}

// messageJSON renders m for GET and lists. The deprecated is_delivered and
// is_read follow delivery_status (delivered or read; read), so a received
// inbound message is neither.
func (m *message) messageJSON() wMessage {
	h := m.sender
	return wMessage{
		ID:               m.id,
		ChatID:           m.chat.id,
		CreatedAt:        m.createdAt,
		UpdatedAt:        m.updatedAt,
		DeliveryStatus:   m.status,
		IsFromMe:         !m.inbound,
		IsDelivered:      m.status == "delivered" || m.status == "read",
		IsRead:           m.status == "read",
		SentAt:           tptr(m.sentAt),
		DeliveredAt:      tptr(m.deliveredAt),
		ReadAt:           tptr(m.readAt),
		From:             m.sender.Handle,
		FromHandle:       &h,
		Parts:            partsOut(m.parts, false),
		Effect:           m.effect,
		ReplyTo:          m.replyTo,
		Service:          m.chat.service,
		PreferredService: sptr(m.preferredService),
	}
}

func (s *Sim) chatJSON(c *chat) wChat {
	c.mu.Lock()
	updated := c.updatedAt
	c.mu.Unlock()
	return wChat{
		ID:           c.id,
		CreatedAt:    c.createdAt,
		UpdatedAt:    updated,
		DisplayName:  c.recipKey,
		Handles:      c.handles,
		HealthStatus: s.health(c),
		IsGroup:      c.isGroup,
		Service:      c.service,
	}
}
