package messaging

import (
	"context"
	"fmt"

	"github.com/linegate/linegate/internal/ratelimit"
)

// AdmitAndRecord does the database work of one send — the admission
// statement and, when admitted, the statement that records Linq's answer —
// without calling Linq, as if Linq had accepted the message at once. It is
// the benchmark's ceiling for the gateway's write shape and must not run
// against a production database (it records messages that were never sent).
// It returns the admission outcome.
func (s *Service) AdmitAndRecord(ctx context.Context, req SendRequest) (string, error) {
	if err := s.validate(&req); err != nil {
		return "", err
	}
	id := newMessageID()
	body, err := storeSend(req)
	if err != nil {
		return "", err
	}
	a, err := s.admit(ctx, req, id, id.String(), body)
	if err != nil {
		return "", fmt.Errorf("admit send: %w", err)
	}
	if a.outcome != ratelimit.OutcomeOK {
		return a.outcome, nil
	}
	chat := a.chatID
	if chat == "" {
		chat = "dbonly-" + id.String()
	}
	// As the gateway records it: behind the answer unless it opened a chat.
	if err := s.recordSent(ctx, sentCall{id: a.id, lineID: a.line.ID, handle: a.handle, chatID: chat,
		msgID: id.String(), status: "queued", newChat: a.chatID == "", behind: a.chatID != ""}); err != nil {
		return "", fmt.Errorf("record send: %w", err)
	}
	return a.outcome, nil
}
