package linq

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Linq error codes the gateway acts on (wire doc §1.2). CodePairLimit is the
// code Linegate's simulator gives the 30-per-60-s pair limit; Linq's own
// docs name no code for it.
const (
	CodeFirstMessageRule = 1005
	CodePairLimit        = 1007
	CodeContactCardExist = 2014
	CodeOptedOut         = 2024
	CodeBlocked          = 2026
	CodeLineIneligible   = 2027
)

// ErrNotAttempted marks errors raised before any request reached Linq (bad
// input, context already done). NotSent reports true for them.
var ErrNotAttempted = errors.New("linq: request not attempted")

// Error is an HTTP error answer from Linq, decoded from its
// `{"error":{"code","message","doc_url","retry_after"}}` envelope.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is Linq's error code; 0 when the body carried none.
	Code int
	// Message is Linq's human-readable text (never message content).
	Message string
	// DocURL links to the error's documentation.
	DocURL string
	// RetryAfter is the wait Linq asked for: Retry-After-Ms, then
	// Retry-After, then the body's error.retry_after. Zero when absent.
	RetryAfter time.Duration
	// TraceID is the body's top-level trace_id or the X-Trace-Id header.
	TraceID string

	// uncertain is set when an earlier attempt of the same call may have
	// reached Linq (5xx or connection error) before this answer came.
	uncertain bool
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "linq: %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.TraceID != "" {
		b.WriteString(" [trace_id ")
		b.WriteString(e.TraceID)
		b.WriteString("]")
	}
	return b.String()
}

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

func isStatusCode(err error, status, code int) bool {
	e, ok := AsError(err)
	return ok && e.Status == status && e.Code == code
}

// IsOptedOut reports a 403 with code 2024: the recipient opted out (STOP).
func IsOptedOut(err error) bool { return isStatusCode(err, http.StatusForbidden, CodeOptedOut) }

// IsBlocked reports a 403 with code 2026: the recipient handle is blocked.
func IsBlocked(err error) bool { return isStatusCode(err, http.StatusForbidden, CodeBlocked) }

// IsLineIneligible reports a 403 with code 2027: the from line cannot send
// (flagged); reads still work.
func IsLineIneligible(err error) bool {
	return isStatusCode(err, http.StatusForbidden, CodeLineIneligible)
}

// IsPairLimit reports a 429 with code 1007: more than 30 sends per
// (line, recipient) in 60 s. Error.RetryAfter says when to try again.
func IsPairLimit(err error) bool {
	return isStatusCode(err, http.StatusTooManyRequests, CodePairLimit)
}

// IsRateLimited reports any 429 answer.
func IsRateLimited(err error) bool {
	e, ok := AsError(err)
	return ok && e.Status == http.StatusTooManyRequests
}

// IsFirstMessageRule reports a 400 with code 1005: the first message of a new
// chat held a link, a URL in text, a reply_to or an effect.
func IsFirstMessageRule(err error) bool {
	return isStatusCode(err, http.StatusBadRequest, CodeFirstMessageRule)
}

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool {
	e, ok := AsError(err)
	return ok && e.Status == http.StatusNotFound
}

// NotSent reports whether Linq definitely did not act on the request: the
// call failed before reaching Linq (ErrNotAttempted), or Linq answered 4xx
// and no earlier attempt of the same call had an unknown outcome. It is false
// for 5xx answers, timeouts and connection errors, where the message may have
// gone out, and for a 408 (Linq's own timeout: it may have acted on the
// request before giving up on it). The gateway gives a rate-limit slot back
// only when NotSent is true.
func NotSent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotAttempted) {
		return true
	}
	e, ok := AsError(err)
	if !ok {
		return false
	}
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && !e.uncertain
}

func notAttempted(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotAttempted, fmt.Sprintf(format, args...))
}
