package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/health"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
)

// LineHealth takes what the send path observes about a line (a 2027
// answer) in the caller's transaction; internal/health implements it, and
// moving the line's users off it is its business.
type LineHealth interface {
	Apply(ctx context.Context, tx pgx.Tx, in health.Input) error
}

// Continuer says when a send must first open the user's chat on their line
// with the continuation text, and words that text. The admission decides
// it (send_admit_many), so that the continuation is admitted with the
// send: the user's newest line ledger row moved them onto their line for
// one of ContinuationAfter's reasons, and they have no chat there yet.
type Continuer interface {
	ContinuationAfter() []string
	ContinuationText() string
}

// Health is line health as the send path uses it (*health.Service).
type Health interface {
	LineHealth
	Continuer
}

// SetHealth connects line health; it is built after the send path, and
// set before the service takes requests. Without it a 2027 answer only
// marks the line ineligible, and no continuation is sent.
func (s *Service) SetHealth(h Health) {
	s.health = h
	s.settings = s.admitSettings(h.ContinuationAfter())
}

// recordTimeout bounds the statements that record a Linq answer, which run
// even when the send's own time ran out.
const recordTimeout = 10 * time.Second

// The line policy's reasons (line_policy's why) for a line that carries
// users it should have handed over: a line in one of these states fails
// its users over, so a user still on it is stranded (the pool had no room).
const (
	whyLineDown    = "line_down"
	whyLineMissing = "line_missing"
	whyLinePaused  = "line_paused"
)

// codeNoHealthyLine answers a send to a stranded user.
const codeNoHealthyLine = "no_healthy_line"

// stranded reports whether a line_unavailable refusal means the user is
// stranded on a failing line rather than on one that is merely retired.
func stranded(outcome, why string) bool {
	if outcome != ratelimit.OutcomeLineUnavailable {
		return false
	}
	switch why {
	case whyLineDown, whyLineMissing, whyLinePaused:
		return true
	}
	return false
}

// noHealthyLine is the answer to a send to a stranded user: failover found
// no line with room, and the recovery tick places them once one has. The
// retry hint is that tick's order of time.
func (s *Service) noHealthyLine(ctx context.Context, a admission) error {
	s.metrics.SendsRefused.WithLabelValues(codeNoHealthyLine).Inc()
	s.log.WarnContext(ctx, "send to a user stranded on a failing line", slog.Int64("line_id", a.line.ID),
		slog.Int64("user_id", a.userID), slog.String("why", a.why))
	e := apperr.New(apperr.Unavailable, codeNoHealthyLine,
		"the user's line is failing and no healthy line had room to take them; retry after the hint")
	e.RetryAfter = ratelimit.LineRetryAfter
	e.Details = map[string]any{"why": a.why}
	return e
}

// lineIneligible hands a 2027 answer to line health, stamped with the
// database's clock, in a transaction of its own: the line goes down and its
// users fail over at once.
func (s *Service) lineIneligible(ctx context.Context, lineID int64) error {
	if s.health == nil {
		return s.q.LineMarkIneligible(ctx, s.pool, lineID)
	}
	// It can meet a move in a deadlock, as any writer of line health can;
	// the victim rolled back whole, so it runs again.
	_, err := store.RetryDeadlocked(ctx, func() (struct{}, error) {
		return struct{}{}, store.WithTx(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
			at, err := s.q.MessageClock(ctx, tx)
			if err != nil {
				return fmt.Errorf("read the database clock: %w", err)
			}
			return s.health.Apply(ctx, tx, health.Input{LineID: lineID, Source: health.SourceSend, At: at, Ineligible: true})
		})
	})
	return err
}

// continuationKey is the Linq idempotency key of the continuation text that
// opens the chat for message id: derived from the message's id, so every
// attempt of the message (the caller's retries, takeovers, the recovery
// job) sends it under one key and Linq sends it once.
func continuationKey(id uuid.UUID) string {
	return uuid.NewSHA1(id, []byte("continuation")).String()
}

// openChat opens the user's chat on their line with the continuation text,
// which the send was admitted with (they were moved onto the line and have
// no chat there yet): Linq refuses a first message that holds a link, a
// reply_to or an effect, and the user should learn why a new number writes
// to them. It returns the chat's id. On an error the send is settled
// (recordFailure) and the error is the answer.
func (s *Service) openChat(ctx context.Context, a admission, key string) (string, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	resp, err := s.linq.CreateChat(ctx, linq.CreateChatRequest{From: a.line.Number, To: []string{a.handle},
		Message: linq.MessageContent{
			Parts: []linq.Part{linq.TextPart(s.health.ContinuationText())}, IdempotencyKey: continuationKey(a.id),
		}})
	if err != nil {
		s.recordFailure(rctx, a, linq.NotSent(err), settled(err))
		return "", s.upstreamError(rctx, "create_chat", err, target{lineID: a.line.ID, userID: a.userID, newChat: true, key: key})
	}
	s.okCreate.Inc()
	if _, err := s.q.MessageOpenChat(rctx, s.pool, store.MessageOpenChatParams{
		ID: pgUUID(a.id), LinqChatID: resp.Chat.ID,
	}); err != nil {
		// The message still goes out on the chat. A later attempt that
		// finds no chat recorded sends the continuation again under the
		// same key, and Linq answers it with the one it holds; the
		// continuation's stamp moves with the message's (MessageMarkSent).
		s.log.ErrorContext(ctx, "record chat opened by continuation", slog.Any("error", err))
	}
	s.log.InfoContext(ctx, "chat opened with the continuation text", slog.Int64("line_id", a.line.ID),
		slog.Int64("user_id", a.userID))
	return resp.Chat.ID, nil
}
