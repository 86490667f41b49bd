package messaging

import (
	"context"
	"fmt"
	"time"

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
	lim := s.lim.Limits()
	now := ratelimit.Micro(s.cfg.Now())
	row, err := s.q.MessageAdmit(ctx, s.pool, store.MessageAdmitParams{
		ID: pgUUID(id), ApiKeyID: req.APIKeyID, IdempotencyKey: id.String(), RequestHash: requestHash(req),
		UserRef: nonEmpty(req.UserRef), Handle: nonEmpty(req.Handle), Intent: req.Intent, Now: now,
		Lease: ratelimit.Interval(s.cfg.SendTimeout + 5*time.Second), Keep: ratelimit.Interval(s.cfg.IdempotencyKeepFor),
		ReplyWindow: ratelimit.Interval(lim.ReplyWindow), PairLimit: int32(lim.PairLimit),
		PairWindow: ratelimit.Interval(lim.PairWindow), HitLimit: int32(lim.HitLimit),
		HitWindow: ratelimit.Interval(lim.HitWindow), Quarantine: ratelimit.Interval(lim.QuarantineFor),
		Budget: int32(lim.DailyBudget), Warmup: ratelimit.Interval(lim.Warmup), Reserve: lim.ReplyReserve,
	})
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
