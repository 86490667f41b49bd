// Package linqsim is an in-memory simulator of the Linq partner API v3, as
// ../shared/docs/linq-v3-wire.md describes it. Tests start it in-process
// (New, Handler, Close); `gateway sim` serves it on a local address; `make
// run` points the gateway at it when no Linq API key is configured. The
// official TypeScript SDK drives it in sdk_conformance_test.go.
//
// Where the wire doc leaves a question open, the simulator takes the reading
// that is hardest on Linegate, so that a gateway that passes against the
// simulator does not rely on Linq being lenient. Each choice is listed below.
//
// # Endpoints
//
// Under /v3/ (and /api/partner/v3/): GET /phone_numbers, GET /phonenumbers
// (deprecated shape); POST/GET /chats, GET /chats/{id}, POST/GET
// /chats/{id}/messages, POST /chats/{id}/read, POST/DELETE
// /chats/{id}/typing, POST /chats/{id}/share_contact_card; POST /messages;
// GET/PATCH/DELETE /messages/{id}, POST /messages/{id}/reactions; POST
// /capability/check_imessage and /check_rcs; GET/POST/PATCH /contact_card;
// POST/GET /webhook-subscriptions, GET/PUT/DELETE
// /webhook-subscriptions/{id}; GET /webhook-events. Anything else under /v3/
// is a Linq-shaped 404.
//
// Auth: `Authorization: Bearer <key>`; Config.APIKey empty accepts any
// non-empty token. Missing or wrong → 401 code 1002.
//
// # Behaviour
//
//   - Chats are keyed by from + the set of to (order and duplicates do not
//     matter). POST /v3/chats for an existing key sends into that chat.
//     display_name is the sorted recipients joined by commas; our line is
//     the handle with is_me true.
//   - Pair limit: at most 30 accepted sends per (line, recipient) in any 60 s
//     window; the 31st answers 429, code 1007, with a `Retry-After` header
//     (whole seconds) and the same number in error.retry_after. The window
//     is closed: a send exactly 60 s old still counts, and Retry-After is
//     floor(wait)+1 so that retrying after exactly that many seconds works.
//     A group send takes one slot per recipient and is refused whole if any
//     recipient's window is full. Refused sends and idempotent replays take
//     no slot. Count429 and /_sim/stats count the 429s.
//   - Idempotency: message.idempotency_key (and the Idempotency-Key header on
//     POST /v3/messages) seen before → the original message, nothing sent.
//     Concurrent sends with one key produce one message. A refused send
//     (any 4xx) does not consume its key.
//   - Opt-out: an injected inbound message whose whole trimmed text is STOP,
//     UNSUBSCRIBE, OPTOUT, CANCEL, END or QUIT (exact case), or "opt out" in
//     any case, spacing or hyphenation, opts its sender out on every line
//     and chat: sends answer 403/2024 until a later ordinary inbound message
//     from them lifts it. override_optout bypasses it for one send. The 1:1
//     chats show health_status OPTED_OUT meanwhile.
//   - Blocked handles (Block, /_sim/blocked): sends to them in 1:1 chats
//     answer 403/2026.
//   - Flagged lines (FlagLine): every new activity answers 403/2027 before
//     anything is created — create chat, send, react, edit, typing, mark
//     read, share contact card, capability checks naming the line — while
//     reads (chat, messages, lists, phone numbers) and inbound messages keep
//     working. POST /v3/messages skips flagged lines.
//   - First message of a new chat: a link part, a URL inside a text part, a
//     reply_to or an effect → 400/1005 (POST /v3/messages allows the link).
//   - A text part with a mention in a direct (1:1) chat → 409/2023, on a
//     chat send and on a new chat alike.
//   - Reputation (SetReputation) is reported per line on GET
//     /v3/phone_numbers in `reputation` and in the deprecated
//     `health_status` copy.
//   - Malformed requests (bad JSON, wrong types, missing fields, parts
//     breaking Linq's rules, bad query strings) answer 400 in Linq's envelope
//     `{"error":{"code","message","doc_url"}}`. A panic in a handler becomes
//     a Linq-shaped 500; TestNeverPanics fuzzes every endpoint.
//   - Status codes: POST /v3/messages and chat sends 202; typing, mark read,
//     share contact card, message and subscription delete 204.
//   - Outbound lifecycle: the send answer shows the message `queued` with
//     sent_at null; right after, the message becomes sent, delivered and
//     read (or failed under the fail_messages fault), and message.sent,
//     .delivered and .read (or .sent then .failed) are queued in that order.
//   - Edits: own outbound text parts only, at most 5 edits within 15 minutes
//     (else 400 code 1006); message.edited follows. Reactions: one per person
//     per part (adding replaces ours); custom needs custom_emoji, also to
//     remove; stickers cannot be sent. Deleting a message removes it from
//     reads and makes its idempotency key answer 404.
//   - Share contact card needs an active card for the chat's line (POST
//     /v3/contact_card), else 404; a second card answers 409/2014.
//   - Capability checks use a fixed rule: emails and numbers ending 0–7 are
//     iMessage, numbers ending 8 are RCS, ending 9 SMS-only. A chat's
//     service follows its recipients (any SMS → SMS, else any RCS → RCS).
//   - Sends are logged (SendLog, GET /_sim/sends): time, from, to, chat,
//     message, idempotency key.
//
// # Webhooks
//
// Config.WebhookURL acts as a subscription to every event, signed with
// Config.WebhookSecret (generated when empty); POST /v3/webhook-subscriptions
// adds more, each with its own whsec_ secret. Events: message.sent,
// .delivered, .read, .failed, .edited for outbound; message.received for
// injected inbound; reaction.added and .removed; chat.created;
// phone_number.status_updated on flag, unflag and reputation change. All in
// the 2026-02-03 envelope (event_id, event_type, created_at, api_version
// "v3", webhook_version, partner_id, trace_id, data), signed with both the
// Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature) and the legacy X-Webhook-Event, -Subscription-ID,
// -Timestamp and -Signature headers (linq.SignStandard, linq.SignLegacy).
//
// Delivery runs on a fixed pool of workers with bounded queues; events of one
// chat (or line) for one target go through one worker, so first attempts
// arrive in order. A 5xx, 429 or network error is retried up to 10 attempts
// in all, attempt n+1 after RetryBase·2^(n-1) (1 s base: about 8.5 minutes
// in all; Linq says about 25 minutes); other answers give up at once. A full
// queue drops the delivery (WebhookStats.Overflow). With no active
// subscription no webhook work is done at all.
//
// # Faults
//
// SetFaults or PUT /_sim/faults: added latency; a share of /v3 requests
// answered 500 (ErrorRate, or the next FailNext requests) or never answered
// (TimeoutRate: the connection is dropped when the client gives up, at most
// after 2 minutes); a share of webhook deliveries dropped, made twice or
// held back for ReorderDelay so that later events overtake them; a share of
// sends failing after message.sent. FaultStats and WebhookStats count what
// was injected. Request faults hit after the
// request was processed — a send really happened — because a 5xx or a
// timeout from Linq does not mean "not sent".
//
// # Admin API (no auth, no faults)
//
// GET /_sim/health; GET/POST /_sim/lines; POST /_sim/lines/{number}/flag and
// /unflag; PUT /_sim/lines/{number}/reputation {"reputation"}; POST
// /_sim/inbound {"from","to","text"}; GET/PUT /_sim/faults {"latency_ms",
// "error_rate","timeout_rate","fail_next","drop_webhooks",
// "duplicate_webhooks","reorder_webhooks","fail_messages"}; GET
// /_sim/sends[?from=&to=]; GET /_sim/stats; GET /_sim/webhook-deliveries
// (every delivery answered 2xx, with its event_id); GET /_sim/webhook-secret; POST /_sim/blocked {"handle"},
// DELETE /_sim/blocked/{handle}. The Go methods AddLine, FlagLine,
// UnflagLine, SetReputation, InjectInbound, Block, Unblock, SetFaults,
// SendLog, Count429, WebhookStats, DeliveredWebhooks, FaultStats, WebhookSecret
// and Lines do the same.
//
// # Open questions of the wire doc (§12 and others) and the choice made
//
//  1. Idempotency scope, TTL, duplicate answer: the key is scoped to the
//     partner across everything — chats, lines and endpoints. A key reused
//     on another chat returns the original message from the original chat
//     with a 2xx and sends nothing, so a gateway that ever reuses a key for
//     a different send silently loses that send. No TTL while the message
//     exists; once deleted the key answers 404. A duplicate gets the original
//     with the endpoint's usual 2xx, not a 409, so a duplicate is not
//     noticeable from the status. Header and message.idempotency_key that
//     disagree on POST /v3/messages → 400.
//  2. Error body: Linq's envelope plus top-level "success":false and
//     "trace_id" keys, which a strict decoder must ignore. No trace id header
//     on any answer: trace ids come only from bodies (errors and the
//     {message,status,trace_id} action answers), so the gateway must cope
//     without one.
//  3. Rate limits: the pair limit is the only limit; every 429 carries both
//     Retry-After and error.retry_after; there are no X-RateLimit-* headers
//     to lean on. The window is closed and group sends count per recipient
//     (see above).
//  4. Create and update status codes: POST /v3/chats and subscription create
//     answer 201, chat sends 202 like POST /v3/messages: a client must accept
//     any 2xx.
//  5. Line state: FLAGGED is what makes a line ineligible (403/2027) and can
//     go back to ACTIVE. Reputation is separate: CRITICAL does not block
//     sends (Linq only advises pausing), so the gateway must act on it
//     itself. The service status is never readable through /v3; only the
//     phone_number.status_updated webhook (and the /_sim admin view) shows it.
//  6. Legacy signature key: the whole whsec_… string as bytes, as in the wire
//     doc's test vector; the legacy timestamp equals webhook-timestamp.
//  7. webhook-id vs event_id: different values. webhook-id ("msg_…") stays
//     the same across retries of one delivery, but a duplicated delivery has
//     its own webhook-id with the same event_id: only event_id dedupes.
//  8. webhook_version default: always 2026-02-03, whatever ?version says; the
//     2025-01-01 payloads are not produced.
//  9. Failure codes: message.failed carries code 4001 and detail_code null;
//     the meanings are unknown, so the gateway must not depend on them.
//  10. phone_numbers filter: only events that name their line
//     (message.*, phone_number.status_updated) are filtered. Events that
//     carry only a chat_id (reaction.*, chat.created) reach every
//     subscription for that event type, so a receiver may get events of lines
//     it did not ask for and must map chat_id to a line itself.
//  11. Payloads of chat.background_*, call.*, location.*, connection.*:
//     not produced.
//  12. Pagination: limit defaults to 20, above 100 is a 400. Cursors are
//     opaque but are offsets into a newest-first list (chats by updated_at,
//     messages by created_at), so items arriving between pages shift them:
//     a page walk may see an item twice or miss one.
//  13. Query arrays: both repeated parameters and comma-joined values.
//  14. Deprecated health_status on GET /v3/phone_numbers: sent (the pinned TS
//     SDK expects it), always equal to reputation; read reputation first.
//
// Further choices where the docs are silent: URL detection for the
// first-message rule is broad (scheme URLs, www. hosts, bare domains with a
// common TLD); a group send including an opted-out member is refused; a part
// without a type is a 400 (the Go SDK drops a zero type); request faults are
// applied after processing; after a webhook outage, retried events may arrive
// out of order. Simulator relaxations: http webhook targets are accepted for
// loopback hosts; experiences, attachments, polls, participants, voice memos
// and group updates are not simulated.
//
// Error codes without a Linq-documented number use the simulator's own: 1000
// internal, 1001 invalid request, 1002 unauthorized, 1003 not found, 1004
// conflict, 1006 edit refused; 1007 is the pair limit as Linegate agreed.
package linqsim
