package linq

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook headers (wire doc §10.1). Both sets come on every delivery.
const (
	HeaderWebhookID              = "webhook-id"
	HeaderWebhookTimestamp       = "webhook-timestamp"
	HeaderWebhookSignature       = "webhook-signature"
	HeaderLegacyEvent            = "X-Webhook-Event"
	HeaderLegacySubscriptionID   = "X-Webhook-Subscription-ID"
	HeaderLegacyTimestamp        = "X-Webhook-Timestamp"
	HeaderLegacySignature        = "X-Webhook-Signature"
	DefaultWebhookTolerance      = 5 * time.Minute
	WebhookSecretPrefix          = "whsec_"
	WebhookVersion20260203       = "2026-02-03"
	standardSignatureVersionPart = "v1"
)

// Webhook event types the gateway handles (wire doc §9).
const (
	EventMessageSent               = "message.sent"
	EventMessageReceived           = "message.received"
	EventMessageDelivered          = "message.delivered"
	EventMessageRead               = "message.read"
	EventMessageFailed             = "message.failed"
	EventMessageEdited             = "message.edited"
	EventReactionAdded             = "reaction.added"
	EventReactionRemoved           = "reaction.removed"
	EventChatCreated               = "chat.created"
	EventPhoneNumberStatusUpdated  = "phone_number.status_updated"
	EventChatTypingStarted         = "chat.typing_indicator.started"
	EventChatTypingStopped         = "chat.typing_indicator.stopped"
	EventParticipantAdded          = "participant.added"
	EventParticipantRemoved        = "participant.removed"
	EventChatGroupNameUpdated      = "chat.group_name_updated"
	EventChatGroupIconUpdated      = "chat.group_icon_updated"
	EventChatGroupNameUpdateFailed = "chat.group_name_update_failed"
	EventChatGroupIconUpdateFailed = "chat.group_icon_update_failed"
)

// Errors returned by VerifyWebhook; the returned error wraps one of them.
var (
	ErrWebhookHeaders   = errors.New("linq webhook: signature headers missing")
	ErrWebhookTimestamp = errors.New("linq webhook: timestamp outside tolerance")
	ErrWebhookSignature = errors.New("linq webhook: no matching signature")
	ErrWebhookNoSecret  = errors.New("linq webhook: no signing secret configured")
)

// standardKey derives the Standard Webhooks HMAC key: the base64 decoding of
// the secret without its "whsec_" prefix. A secret that is not base64 is used
// as raw bytes, so signing and verifying stay symmetric for odd secrets.
func standardKey(secret string) []byte {
	s := strings.TrimPrefix(secret, WebhookSecretPrefix)
	if k, err := base64.StdEncoding.DecodeString(s); err == nil {
		return k
	}
	if k, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return k
	}
	return []byte(s)
}

// SignStandard returns the Standard Webhooks signature header value
// `v1,<base64 HMAC-SHA256>` over "{msgID}.{unix seconds}.{body}".
func SignStandard(secret, msgID string, ts time.Time, body []byte) string {
	return standardSignatureVersionPart + "," + base64.StdEncoding.EncodeToString(
		standardMAC(standardKey(secret), msgID, strconv.FormatInt(ts.Unix(), 10), body))
}

func standardMAC(key []byte, msgID, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignLegacy returns the legacy X-Webhook-Signature value: lowercase hex of
// HMAC-SHA256 over "{unix seconds}.{body}", keyed with the whole secret
// string's bytes ("whsec_" included), as in the wire doc's test vector.
func SignLegacy(secret string, ts time.Time, body []byte) string {
	return hex.EncodeToString(legacyMAC(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func legacyMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a Linq webhook delivery against one or more secrets
// (several during rotation). It tries the Standard Webhooks headers first and
// the legacy X-Webhook-* headers second; either passing is enough. The
// timestamp must be within tolerance of now in both directions (0 means
// DefaultWebhookTolerance). body must be the raw request body.
func VerifyWebhook(secrets []string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	usable := secrets[:0:0]
	for _, s := range secrets {
		if s != "" {
			usable = append(usable, s)
		}
	}
	if len(usable) == 0 {
		return ErrWebhookNoSecret
	}

	var stdErr error
	id, ts, sig := header.Get(HeaderWebhookID), header.Get(HeaderWebhookTimestamp), header.Get(HeaderWebhookSignature)
	if id != "" || ts != "" || sig != "" {
		if stdErr = verifyStandard(usable, id, ts, sig, body, now, tolerance); stdErr == nil {
			return nil
		}
	}
	lts, lsig := header.Get(HeaderLegacyTimestamp), header.Get(HeaderLegacySignature)
	if lts != "" || lsig != "" {
		legErr := verifyLegacy(usable, lts, lsig, body, now, tolerance)
		if legErr == nil {
			return nil
		}
		if stdErr == nil {
			return legErr
		}
	}
	if stdErr != nil {
		return stdErr
	}
	return ErrWebhookHeaders
}

func checkTimestamp(ts string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrWebhookTimestamp, ts)
	}
	age := now.Sub(time.Unix(sec, 0))
	if age > tolerance {
		return fmt.Errorf("%w: too old (%s)", ErrWebhookTimestamp, age.Round(time.Second))
	}
	if age < -tolerance {
		return fmt.Errorf("%w: too new (%s ahead)", ErrWebhookTimestamp, (-age).Round(time.Second))
	}
	return nil
}

func verifyStandard(secrets []string, id, ts, sig string, body []byte, now time.Time, tolerance time.Duration) error {
	if id == "" || ts == "" || sig == "" {
		return fmt.Errorf("%w: need %s, %s and %s", ErrWebhookHeaders,
			HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	if err := checkTimestamp(ts, now, tolerance); err != nil {
		return err
	}
	var given [][]byte
	for _, entry := range strings.Fields(sig) {
		version, value, ok := strings.Cut(entry, ",")
		if !ok || version != standardSignatureVersionPart {
			continue
		}
		// Strict: the padding bits of the last symbol must be zero, so no
		// second spelling of a signature verifies.
		if b, err := base64.StdEncoding.Strict().DecodeString(value); err == nil {
			given = append(given, b)
		}
	}
	for _, secret := range secrets {
		want := standardMAC(standardKey(secret), id, ts, body)
		for _, g := range given {
			if hmac.Equal(want, g) {
				return nil
			}
		}
	}
	return ErrWebhookSignature
}

func verifyLegacy(secrets []string, ts, sig string, body []byte, now time.Time, tolerance time.Duration) error {
	if ts == "" || sig == "" {
		return fmt.Errorf("%w: need %s and %s", ErrWebhookHeaders, HeaderLegacyTimestamp, HeaderLegacySignature)
	}
	if err := checkTimestamp(ts, now, tolerance); err != nil {
		return err
	}
	sig = strings.TrimSpace(sig)
	given, err := hex.DecodeString(sig)
	// Lowercase only, as Linq sends it: one spelling per signature.
	if err != nil || hex.EncodeToString(given) != sig {
		return ErrWebhookSignature
	}
	for _, secret := range secrets {
		if hmac.Equal(legacyMAC(secret, ts, body), given) {
			return nil
		}
	}
	return ErrWebhookSignature
}

// WebhookEvent is the envelope of every Linq webhook (wire doc §10.3).
type WebhookEvent struct {
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	CreatedAt      time.Time       `json:"created_at"`
	APIVersion     string          `json:"api_version"`
	WebhookVersion string          `json:"webhook_version"`
	PartnerID      string          `json:"partner_id"`
	TraceID        string          `json:"trace_id"`
	Data           json.RawMessage `json:"data"`
}

// ParseWebhookEvent decodes a webhook body and checks the envelope fields a
// receiver relies on (event_id, event_type, data).
func ParseWebhookEvent(body []byte) (*WebhookEvent, error) {
	var e WebhookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("linq webhook: decode envelope: %w", err)
	}
	switch {
	case e.EventID == "":
		return nil, errors.New("linq webhook: event_id missing")
	case e.EventType == "":
		return nil, errors.New("linq webhook: event_type missing")
	case len(e.Data) == 0 || string(e.Data) == "null":
		return nil, errors.New("linq webhook: data missing")
	}
	return &e, nil
}

// DecodeData decodes the event's data into v (one of the *Data types below).
func (e *WebhookEvent) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("linq webhook: decode %s data: %w", e.EventType, err)
	}
	return nil
}

// MessageEventChat is the chat inside a 2026-02-03 message event.
type MessageEventChat struct {
	ID           string            `json:"id"`
	HealthStatus *ChatHealthStatus `json:"health_status,omitempty"`
	IsGroup      *bool             `json:"is_group,omitempty"`
	// OwnerHandle is our line (is_me true).
	OwnerHandle *ChatHandle `json:"owner_handle,omitempty"`
}

// MessageEventData is the data of message.sent, .received, .delivered and
// .read in the 2026-02-03 format.
type MessageEventData struct {
	ID               string           `json:"id"`
	Chat             MessageEventChat `json:"chat"`
	Direction        string           `json:"direction"`
	SenderHandle     ChatHandle       `json:"sender_handle"`
	Parts            []ResponsePart   `json:"parts"`
	Service          string           `json:"service"`
	PreferredService string           `json:"preferred_service,omitempty"`
	IdempotencyKey   string           `json:"idempotency_key,omitempty"`
	Effect           *Effect          `json:"effect,omitempty"`
	ReplyTo          *ReplyTo         `json:"reply_to,omitempty"`
	SentAt           *time.Time       `json:"sent_at,omitempty"`
	DeliveredAt      *time.Time       `json:"delivered_at,omitempty"`
	ReadAt           *time.Time       `json:"read_at,omitempty"`
	// ReconciledAt is set only for messages recovered late; suppress
	// auto-replies to those.
	ReconciledAt *time.Time `json:"reconciled_at,omitempty"`
}

// MessageFailedData is the data of message.failed.
type MessageFailedData struct {
	Code             int       `json:"code"`
	FailedAt         time.Time `json:"failed_at"`
	ChatID           string    `json:"chat_id,omitempty"`
	MessageID        string    `json:"message_id,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	DetailCode       *int      `json:"detail_code,omitempty"`
	Service          string    `json:"service,omitempty"`
	PreferredService string    `json:"preferred_service,omitempty"`
}

// MessageEditedData is the data of message.edited (2026-02-03 only).
type MessageEditedData struct {
	ID           string           `json:"id"`
	Chat         MessageEventChat `json:"chat"`
	Direction    string           `json:"direction"`
	SenderHandle ChatHandle       `json:"sender_handle"`
	EditedAt     time.Time        `json:"edited_at"`
	Part         struct {
		Index int    `json:"index"`
		Text  string `json:"text"`
	} `json:"part"`
}

// ReactionEventData is the data of reaction.added and reaction.removed. It
// has no line field: map it to a line through ChatID.
type ReactionEventData struct {
	IsFromMe     bool        `json:"is_from_me"`
	ReactionType string      `json:"reaction_type"`
	ChatID       string      `json:"chat_id,omitempty"`
	MessageID    string      `json:"message_id,omitempty"`
	PartIndex    int         `json:"part_index,omitempty"`
	ReactedAt    *time.Time  `json:"reacted_at,omitempty"`
	FromHandle   *ChatHandle `json:"from_handle,omitempty"`
	From         string      `json:"from,omitempty"`
	CustomEmoji  string      `json:"custom_emoji,omitempty"`
	Sticker      *Sticker    `json:"sticker,omitempty"`
	Service      string      `json:"service,omitempty"`
}

// ChatCreatedData is the data of chat.created.
type ChatCreatedData struct {
	ID           string            `json:"id"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	DisplayName  string            `json:"display_name,omitempty"`
	Handles      []ChatHandle      `json:"handles"`
	IsGroup      bool              `json:"is_group"`
	HealthStatus *ChatHealthStatus `json:"health_status,omitempty"`
	Service      string            `json:"service,omitempty"`
}

// PhoneNumberStatusUpdatedData is the data of phone_number.status_updated.
// Statuses are ACTIVE or FLAGGED; reputations HEALTHY, AT_RISK or CRITICAL.
// Older payloads carry only the *_health_status copies of the reputation, or
// neither; use Reputations to read them.
type PhoneNumberStatusUpdatedData struct {
	PhoneNumber          string    `json:"phone_number"`
	ChangedAt            time.Time `json:"changed_at"`
	PreviousStatus       string    `json:"previous_status"`
	NewStatus            string    `json:"new_status"`
	PreviousReputation   string    `json:"previous_reputation,omitempty"`
	NewReputation        string    `json:"new_reputation,omitempty"`
	PreviousHealthStatus string    `json:"previous_health_status,omitempty"`
	NewHealthStatus      string    `json:"new_health_status,omitempty"`
}

// Reputations returns the previous and new reputation, falling back to the
// deprecated health_status pair; empty strings when the payload has neither.
func (d PhoneNumberStatusUpdatedData) Reputations() (previous, current string) {
	previous, current = d.PreviousReputation, d.NewReputation
	if previous == "" {
		previous = d.PreviousHealthStatus
	}
	if current == "" {
		current = d.NewHealthStatus
	}
	return previous, current
}
