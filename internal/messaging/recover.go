package messaging

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/linegate/linegate/internal/store"
)

// recoverBatch bounds one recovery run.
const recoverBatch = 100

// Recover claims and resolves sends left pending past their lease (the
// replica that made the Linq call died, or Postgres failed after Linq
// accepted): each is sent again as it was asked for (parts, effect, reply,
// service) under its own Linq key, which Linq answers with the message it
// already holds or sends now, and the answer is recorded. The claim moves
// each resend's pair stamp to now, as a caller's takeover does, so that the
// resend counts in the pair's window. A refusal marks
// the send failed (its key stays, so the caller's retry resends under the
// same Linq key). A resend whose outcome is unknown again, or that the run
// had no time left for, stays pending, and a later run resends it once its
// new lease has ended: the caller may have been told it was sent. A send
// whose user was deleted, got another handle or opted out since its
// admission is marked failed instead: nothing more goes to that handle. It
// returns how many sends it resolved; the lead schedules it.
func (s *Service) Recover(ctx context.Context) (int, error) {
	rows, err := s.q.MessageClaimExpiredPending(ctx, s.pool, store.MessageClaimExpiredPendingParams{
		Lease: store.Interval(s.cfg.SendTimeout + LeaseSlack), Batch: recoverBatch, Settings: s.settings,
	})
	if err != nil {
		return 0, fmt.Errorf("claim expired sends: %w", err)
	}
	done := 0
	for _, r := range rows {
		if ctx.Err() != nil {
			break // the rest wait for their lease and the next run
		}
		st, err := readStored(r.Body)
		if err != nil || len(st.Parts) == 0 || r.Undeliverable {
			// Nothing to resend, or no one to resend it to: the outcome
			// stays unknown, the key kept.
			if _, err := s.q.MessageMarkFailed(ctx, s.pool, store.MessageMarkFailedParams{ID: r.ID, KeepBody: s.cfg.StoreMessageText}); err != nil {
				return done, fmt.Errorf("mark send failed: %w", err)
			}
			continue
		}
		a := admission{id: uuid.UUID(r.ID.Bytes), userID: r.UserID, handle: r.Handle,
			line: LineRef{ID: r.LineID, Number: r.LineNumber}, chatID: r.ChatID, takeover: true, recovery: true,
			continuation: r.Continuation}
		// Each resend has a send's time, so that one Linq does not answer
		// does not use up the run.
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
		_, err = s.deliver(sctx, st.Parts, st.linqOptions, a, r.IdempotencyKey, false)
		cancel()
		if err != nil {
			s.log.WarnContext(ctx, "recovered send not accepted", slog.String("message_id", a.id.String()),
				slog.Bool("still_pending", !settled(err)), slog.Any("error", err))
			if !settled(err) {
				continue
			}
		}
		done++
	}
	return done, nil
}
