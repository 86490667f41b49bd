package messaging

import (
	"context"
	"log/slog"

	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/store"
)

// chatLost reports whether a send's failed call on the chat it found on
// record means that Linq no longer knows the chat (it lost it, or the
// simulator behind `make run` was restarted): a 404 that certainly sent
// nothing, on a first attempt. A first attempt's Linq key is fresh, so
// Linq's other 404 (a reused key whose message was deleted) cannot apply.
// A resend (takeover, recovery) may meet that one, for a message its first
// attempt sent, so it is never sent again under a new chat.
func chatLost(a admission, err error) bool {
	return !a.takeover && !a.recovery && linq.IsNotFound(err) && linq.NotSent(err)
}

// forgetChat drops the user's chat on the line that Linq no longer knows,
// unless another send already replaced it, so that this send and the next
// ones open a new chat. Should the delete fail, the send opens its chat all
// the same (its record keeps the lost one) and the next send tries again.
func (s *Service) forgetChat(ctx context.Context, a admission) {
	s.metrics.UpstreamRequests.WithLabelValues("send_message", "refused").Inc()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	n, err := s.q.ChatDeleteLost(rctx, s.pool, store.ChatDeleteLostParams{
		UserID: a.userID, LineID: a.line.ID, LinqChatID: a.chatID,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "forget chat unknown to linq", slog.Int64("line_id", a.line.ID),
			slog.Int64("user_id", a.userID), slog.Any("error", err))
		return
	}
	s.log.WarnContext(ctx, "linq does not know the user's chat (404): opening a new one",
		slog.Int64("line_id", a.line.ID), slog.Int64("user_id", a.userID), slog.String("linq_chat_id", a.chatID),
		slog.Bool("forgotten", n > 0))
}
