package messaging

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/ratelimit"
	"github.com/linegate/linegate/internal/store"
)

// target is what a failed Linq call acted on.
type target struct {
	lineID, userID int64
	newChat        bool
	key            string // the send's idempotency key, for 502 answers
}

// retryAdvice ends a 502's message: a send has an idempotency key, under
// which a retry never sends twice; a reaction, edit, delete or typing call
// has none, and Linq may or may not have applied it.
func (t target) retryAdvice() string {
	if t.key != "" {
		return "; retrying with the same idempotency_key never sends twice"
	}
	return "; it may or may not have been applied"
}

// outcome ends a message on a refused call with what is known of it.
func (t target) outcome(notSent bool) string {
	if notSent {
		return "; nothing was sent"
	}
	return t.retryAdvice()
}

// upstreamError acts on a failed Linq call (marks the user opted out or the
// line ineligible) and turns it into the answer for the caller.
func (s *Service) upstreamError(ctx context.Context, op string, err error, t target) error {
	notSent := linq.NotSent(err)
	outcome := "unknown"
	if notSent {
		outcome = "refused"
	}
	s.metrics.UpstreamRequests.WithLabelValues(op, outcome).Inc()
	le, _ := linq.AsError(err)
	var e *apperr.Error
	now := ratelimit.Micro(s.cfg.Now()) // a record's stamp, not a decision
	switch {
	case linq.IsRateLimited(err):
		// linegate_upstream_429_total is counted by the client's On429Func,
		// which also sees 429s that a retry got past.
		code := "upstream_rate_limited"
		if linq.IsPairLimit(err) {
			code = ratelimit.OutcomePairLimit
		}
		s.log.WarnContext(ctx, "linq answered 429 although local limits admitted the send",
			slog.String("op", op), slog.Int64("line_id", t.lineID), slog.String("trace_id", le.TraceID))
		e = apperr.Limited(code, "Linq refused the send as rate limited; retry after the hint", max(le.RetryAfter, time.Second))
	case linq.IsOptedOut(err):
		if t.userID != 0 {
			if uerr := s.q.UserMarkOptedOut(ctx, s.pool, store.UserMarkOptedOutParams{ID: t.userID, At: now, Source: "linq_2024"}); uerr != nil {
				s.log.ErrorContext(ctx, "mark user opted out", slog.Any("error", uerr))
			}
		}
		s.metrics.SendsRefused.WithLabelValues("opted_out").Inc()
		e = apperr.New(apperr.Conflict, "opted_out", "the user has opted out of messages (Linq 2024); nothing was sent")
	case linq.IsLineIneligible(err):
		// The line is down from now: line health records it and moves the
		// line's users to their backups, so the caller's retry goes out on
		// the user's new line.
		if lerr := s.lineIneligible(ctx, t.lineID); lerr != nil {
			s.log.ErrorContext(ctx, "apply line ineligible", slog.Int64("line_id", t.lineID), slog.Any("error", lerr))
		}
		s.log.WarnContext(ctx, "line is ineligible (Linq 2027): line down, its users fail over",
			slog.Int64("line_id", t.lineID), slog.String("trace_id", le.TraceID))
		s.metrics.SendsRefused.WithLabelValues(ratelimit.OutcomeLineUnavailable).Inc()
		e = apperr.New(apperr.Unavailable, ratelimit.OutcomeLineUnavailable, "the user's line cannot send right now (Linq 2027)")
		e.RetryAfter = ratelimit.LineRetryAfter
	case linq.IsFirstMessageRule(err):
		e = apperr.New(apperr.Unprocessable, "first_message_rule",
			"the first message of a new chat may not hold a link, a URL, a reply_to or an effect: "+le.Message)
	case linq.IsBlocked(err):
		e = apperr.New(apperr.Conflict, "recipient_blocked", "the recipient's handle is blocked; nothing was sent")
	case le != nil && (le.Status == http.StatusUnauthorized || le.Status == http.StatusForbidden):
		// Not a code Linq names for a recipient or a line: Linq refused
		// Linegate's own API key (wrong, revoked, or without the right).
		// No caller can fix that, and every call fails alike until the
		// operators do.
		s.log.ErrorContext(ctx, "linq refused linegate's API key: check LINQ_API_KEY", slog.String("op", op),
			slog.Int("status", le.Status), slog.Int("code", le.Code), slog.String("trace_id", le.TraceID))
		e = apperr.New(apperr.BadGateway, "upstream_auth", "Linq refused Linegate's credentials"+t.outcome(notSent)+
			"; Linegate's operators must fix its Linq API key")
	case le != nil && le.Status == http.StatusRequestTimeout:
		// Linq gave up on the request, after the client's retries: it may
		// have acted on it first (linq.NotSent), and a later try may pass.
		e = apperr.New(apperr.BadGateway, "upstream_timeout", "Linq timed out on the request"+t.retryAdvice())
		e.RetryAfter = max(le.RetryAfter, time.Second)
	case le != nil && notSent && le.Status == 404:
		e = apperr.New(apperr.NotFound, "upstream_not_found", "Linq does not know the message or chat: "+le.Message)
	case le != nil && notSent:
		e = apperr.New(apperr.Unprocessable, "upstream_rejected", "Linq refused the request: "+le.Message)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if notSent {
			e = apperr.New(apperr.Unavailable, "request_timeout", "the request's time ran out before Linq was called; nothing was sent")
		} else {
			e = apperr.New(apperr.BadGateway, "upstream_timeout", "Linq did not answer in time"+t.retryAdvice())
		}
	case errors.Is(err, linq.ErrNotAttempted):
		e = apperr.New(apperr.Unprocessable, "invalid_message", "the message cannot be sent as given")
	default:
		e = apperr.New(apperr.BadGateway, "upstream_unavailable", "Linq did not confirm the request"+t.retryAdvice())
		s.log.WarnContext(ctx, "linq outcome unknown", slog.String("op", op), slog.Int64("line_id", t.lineID),
			slog.Any("error", err))
	}
	e.Err = err
	if le != nil && le.TraceID != "" || t.key != "" {
		e.Details = map[string]any{}
		if le != nil && le.TraceID != "" {
			e.Details["trace_id"] = le.TraceID
		}
		if t.key != "" {
			e.Details["idempotency_key"] = t.key
		}
	}
	if le != nil && le.Status == 400 && e.Kind == apperr.Unprocessable {
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		e.Details["reason"] = le.Message
	}
	return e
}
