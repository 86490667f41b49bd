package events

import "time"

// MessageReceived is the data of message.received. UserRef is nil when the
// sender matches no user. Text and Parts are passed on but not kept once
// delivered (unless STORE_MESSAGE_TEXT is on). ReconciledAt is set only for
// a message Linq recovered late, which should get no automatic reply.
type MessageReceived struct {
	LinqMessageID string     `json:"linq_message_id"`
	UserRef       *string    `json:"user_ref"`
	Handle        string     `json:"handle"`
	Line          string     `json:"line"`
	Service       string     `json:"service,omitempty"`
	Text          string     `json:"text"`
	Parts         []Part     `json:"parts"`
	ReceivedAt    time.Time  `json:"received_at"`
	ReconciledAt  *time.Time `json:"reconciled_at,omitempty"`
}

// Part is one part of an inbound message: Value is the text, the link, or
// a media part's URL (Linq's, valid for an hour), which also has its
// MimeType and Filename.
type Part struct {
	Type     string `json:"type"`
	Value    string `json:"value,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// MessageStatus is the data of message.status: what one Linq event
// reported about a message sent through Linegate (Status: sent, delivered,
// read or failed, at At) and where the message stands after it
// (CurrentStatus, the furthest status reached: read, delivered, failed,
// sent; Linq can report a delivery after a failure, and the message did
// arrive). Linq's events can arrive out of order, so a read may come before
// its delivered: a receiver that shows one state per message keeps
// CurrentStatus.
type MessageStatus struct {
	MessageID     string    `json:"message_id"`
	LinqMessageID string    `json:"linq_message_id,omitempty"`
	UserRef       string    `json:"user_ref"`
	Status        string    `json:"status"`
	CurrentStatus string    `json:"current_status"`
	ErrorCode     *int32    `json:"error_code,omitempty"`
	At            time.Time `json:"at"`
}

// UserConnected is the data of user.connected: a signup's first inbound
// message bound the sender's handle to the user.
type UserConnected struct {
	UserRef     string    `json:"user_ref"`
	Handle      string    `json:"handle"`
	Line        string    `json:"line"`
	ConnectedAt time.Time `json:"connected_at"`
}

// UserOptChanged is the data of user.opted_out and user.opted_in. Source
// says what showed it: keyword, chat_health or message.
type UserOptChanged struct {
	UserRef string    `json:"user_ref"`
	Source  string    `json:"source"`
	At      time.Time `json:"at"`
}

// UserDeleted is the data of user.deleted: a product service removed the
// user (DELETE /v1/users/{user_ref}); their line and handle are free.
type UserDeleted struct {
	UserRef   string    `json:"user_ref"`
	DeletedAt time.Time `json:"deleted_at"`
}
