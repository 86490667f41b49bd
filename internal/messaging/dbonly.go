package messaging

import (
	"context"
	"fmt"

	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
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
	now := ratelimit.Micro(s.cfg.Now())
	params := s.admitParams(req, id, id.String(), nil)
	params.Now = now
	row, err := s.q.MessageAdmit(ctx, s.pool, params)
	if err != nil {
		return "", fmt.Errorf("admit send: %w", err)
	}
	if row.Outcome != ratelimit.OutcomeOK {
		return row.Outcome, nil
	}
	chat := row.ChatID
	if chat == "" {
		chat = "dbonly-" + id.String()
	}
	err = s.markSent(ctx, store.MessageMarkSentParams{
		ID: row.MessageID, LinqChatID: chat, LinqMessageID: id.String(), DeliveryStatus: "queued", Now: now,
	}, row.ChatID == "")
	if err != nil {
		return "", fmt.Errorf("record send: %w", err)
	}
	return row.Outcome, nil
}
