package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/linegate/linegate/internal/store"
)

// stateMessagePending is a messages row whose Linq answer is not recorded.
const stateMessagePending = "pending"

// Message is a message Linegate sent, as GET /v1/messages/{id} shows it.
type Message struct {
	ID      string  `json:"id"`
	UserRef string  `json:"user_ref"`
	Line    LineRef `json:"line"`
	// State is Linegate's: pending (the Linq call is in flight or its
	// outcome not yet recorded), sent (Linq accepted it) or failed (Linq's
	// answer never came; a retry with the idempotency key sends it again
	// under the same Linq key).
	State          string  `json:"state"`
	Intent         string  `json:"intent"`
	IdempotencyKey *string `json:"idempotency_key"`
	ChatID         *string `json:"chat_id"`
	LinqMessageID  *string `json:"linq_message_id"`
	TraceID        *string `json:"trace_id"`
	// Status is Linq's delivery status, kept current by its webhooks.
	Status      *string    `json:"status"`
	SentAt      *time.Time `json:"sent_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	ReadAt      *time.Time `json:"read_at"`
	FailedAt    *time.Time `json:"failed_at"`
	ErrorCode   *int32     `json:"error_code"`
	// DeletedAt is when Linq confirmed the message deleted (DELETE).
	DeletedAt *time.Time `json:"deleted_at"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// lookupWait bounds how long a look-up waits for a pending send's record.
const lookupWait = 2 * time.Second

// Message returns a message by its Linegate id (404 message_not_found for
// an unknown or malformed one, or one whose day has passed retention). A
// send whose caller has Linq's answer while it is being recorded (see
// recordBehind) is waited for, briefly, so that a look-up right after the
// send finds it sent; one still pending after that is shown pending.
func (s *Service) Message(ctx context.Context, messageID string) (*Message, error) {
	id, err := parseID(messageID)
	if err != nil {
		return nil, messageNotFound()
	}
	m, err := s.q.MessageGet(ctx, s.pool, pgUUID(id))
	if err == nil && m.State == stateMessagePending {
		wctx, cancel := context.WithTimeout(ctx, lookupWait)
		_, again := s.waiters.awaitRecord(wctx, s.q, id)
		cancel()
		if again {
			m, err = s.q.MessageGet(ctx, s.pool, pgUUID(id))
		}
	}
	if errors.Is(store.Interpret(err), store.ErrNotFound) {
		return nil, messageNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return &Message{
		ID: uuid.UUID(m.ID.Bytes).String(), UserRef: m.UserRef, Line: LineRef{ID: m.LineID, Number: m.LineNumber},
		State: m.State, Intent: m.Intent, IdempotencyKey: m.IdempotencyKey, ChatID: m.LinqChatID,
		LinqMessageID: m.LinqMessageID, TraceID: m.TraceID, Status: m.DeliveryStatus,
		SentAt: m.SentAt, DeliveredAt: m.DeliveredAt, ReadAt: m.ReadAt, FailedAt: m.FailedAt, ErrorCode: m.ErrorCode,
		DeletedAt: m.DeletedAt,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}, nil
}
