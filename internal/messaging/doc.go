// Package messaging sends product messages to users through Linq on the
// user's sticky line, and passes reactions, edits, deletes, typing and the
// contact card through on the right line and chat.
//
// A send is one Postgres round trip before Linq (send_admit: idempotency key,
// user → current line → chat, opt-out, pair window, budget, line state),
// the Linq call with no transaction open, and one round trip after it to
// record the answer. The caller gets Linq's answer without waiting for that
// record when the send opened no chat: until it commits the message is
// pending, so a retry with the key and an action on the id wait for it, and
// should the replica die first the recovery job resends under the same
// Linq key, which Linq answers with the message it holds. For the same
// reason that record's commit does not wait for its WAL flush (the next
// admission's commit flushes it): a Postgres crash in between leaves the
// message pending, as a replica's death does.
//
// Every Linq send carries an idempotency key: the message's own id, fixed
// when the caller's key is first seen, so retries by the client, by
// Linegate or by the caller never send twice.
//
// Idempotency contract: keys are scoped to the calling API key and kept for
// IdempotencyKeepFor. The same key and body answer the stored response
// (header Idempotent-Replayed); the same key with another body is 422
// idempotency_key_reused; a duplicate arriving while the first is in flight
// waits for it within the request deadline, then answers 409
// idempotency_in_progress. A send that was refused (locally or by Linq
// without sending) does not consume its key; one whose outcome is unknown
// (Linq 5xx or timeout, answered 502) keeps it, and a retry with it sends
// again under the same Linq key.
//
// A chat on record that Linq no longer knows (404 to a first attempt on
// it: the attempt's Linq key is fresh, so the 404 is the chat's) is
// forgotten, and the same message opens a new chat under the same Linq key
// within the request, as a user's first message does. A resend keeps the
// 404: it may be Linq's answer for a message its first attempt sent and
// that was deleted since.
//
// Line health (SetHealth, internal/health): a 2027 answer is handed to it
// in a transaction, stamped with the database's clock, and the line goes
// down with its users failed over at once; a send to a user left on a
// failing line because no line had room answers 503 no_healthy_line. The
// first send on a line the user was moved to is preceded by the
// continuation text, which opens the chat, so Linq's first-message rule
// does not apply to the product's message. The continuation's Linq key is
// derived from the message's id and the chat is recorded as soon as it is
// open, so no retry of the message sends it twice.
package messaging
