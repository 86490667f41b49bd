// Package linq is Linegate's typed client for the Linq partner API v3 (the
// endpoints Linegate uses; see ../shared/docs/linq-v3-wire.md), plus Linq
// webhook signing and verification, which the simulator and the gateway's
// webhook receiver share.
//
// Requests: bearer auth, JSON bodies, every message part sent with its type.
// Errors: any non-2xx answer becomes *Error (status, Linq code, message,
// doc_url, retry_after, trace_id) with helpers for the cases Linegate acts on
// (IsOptedOut, IsBlocked, IsLineIneligible, IsPairLimit, IsFirstMessageRule)
// and NotSent, which tells when Linq definitely did not send.
//
// Retries: connection errors, 408, 429 and 5xx are retried with 0.5 s·2^n
// backoff (at most 8 s, minus up to 25 % jitter), or after the wait Linq asks
// for (Retry-After-Ms, Retry-After, error.retry_after). A wait that would pass
// the context's deadline is not started. Only requests that are safe to repeat
// are retried: reads, typing, deletes, subscription updates, and sends or chat
// creates whose message carries an idempotency key. A send without a key is
// never retried, because a 5xx or a lost answer may hide a delivered message.
//
// Trace ids: a response's TraceID comes from the body's trace_id when the
// endpoint returns one, otherwise from the X-Trace-Id response header. Linq
// does not document a trace header, so TraceID is often empty on success.
//
// The client never logs the API key or any message content; retry logs carry
// the operation, status, attempt, wait and trace id only.
package linq
