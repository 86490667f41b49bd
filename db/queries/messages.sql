-- name: MessageMarkSentMany :many
-- Linq's answers to concurrent sends in one statement and one commit (see
-- message_mark_sent_many). Unless flush, the commit does not wait for its
-- WAL to reach the disk (synchronous_commit off for this transaction only):
-- the batch's callers already have Linq's answer, and the next commit that
-- does wait (any admission's) flushes this one with it. A record that a
-- crash loses before then leaves its send pending, as a replica that dies
-- before recording does, and the recovery job resends it under the same
-- Linq key.
SELECT a.n::integer AS n, a.awaited::boolean AS awaited, a.restamped::integer AS restamped,
       a.chats_added::integer AS chats_added
FROM set_config('synchronous_commit',
                CASE WHEN @flush::boolean THEN current_setting('synchronous_commit') ELSE 'off' END, true) AS d
CROSS JOIN message_mark_sent_many(
    p_ids => @ids::uuid[], p_line_ids => @line_ids::bigint[], p_handles => @handles::text[],
    p_chats => @linq_chat_ids::text[], p_linq_ids => @linq_message_ids::text[],
    p_traces => @trace_ids::text[], p_statuses => @delivery_statuses::text[], p_new_chats => @new_chats::boolean[],
    p_keep_body => @keep_body::boolean
) AS a;

-- name: MessageOpenChat :one
-- A continuation text opened the chat on the user's line for this pending
-- send: the chat is recorded and the continuation's stamp moves to now (see
-- message_open_chat).
SELECT o.chats_added::integer AS chats_added, o.stamped::integer AS stamped
FROM message_open_chat(p_id => @id::uuid, p_chat => @linq_chat_id::text) AS o;

-- name: MessageClock :one
-- The database's clock (lg_now), which stamps what the send path observes
-- about a line (a 2027 answer), as every cross-replica decision is.
SELECT lg_now()::timestamptz AS now;

-- name: MessageMarkFailed :one
-- The outcome is unknown (5xx, timeout), or a resend was refused: keep the
-- key so that a retry with it sends again under the same Linq key. Linq
-- may hold the message, stamped when it got it: the send's pair stamp
-- moves from its admission to now, a time Linq's stamp cannot be later
-- than (as on success), so the pair window never runs ahead of Linq's.
-- admitted_at follows the stamp, which a takeover looks for; so does the
-- stamp of a continuation the send holds (continuation_at), to the next
-- microsecond. The parts go unless kept (STORE_MESSAGE_TEXT): nothing
-- resends a failed send from its row, and a takeover brings the retry's
-- parts back.
WITH clock AS (
    SELECT lg_now() AS now
), old AS (
    SELECT msg.id, msg.line_id, msg.handle, msg.admitted_at, msg.continuation_at
    FROM messages AS msg
    WHERE msg.id = @id::uuid AND msg.state = 'pending'
    FOR UPDATE
), m AS (
    UPDATE messages AS msg
    SET state = 'failed', lease_until = NULL, admitted_at = clock.now, updated_at = clock.now,
        continuation_at = CASE WHEN old.continuation_at IS NOT NULL THEN clock.now + interval '1 microsecond' END,
        body = CASE WHEN @keep_body::boolean THEN msg.body END
    FROM old, clock
    WHERE msg.id = old.id
    RETURNING msg.awaited
), stamp AS (
    UPDATE pair_state AS pw
    SET sends = array_replace(array_replace(pw.sends, old.admitted_at, clock.now),
                              old.continuation_at, clock.now + interval '1 microsecond')
    FROM old, clock
    WHERE pw.line_id = old.line_id AND pw.handle = old.handle
)
SELECT m.awaited FROM m;

-- name: MessageDelete :one
-- Linq refused the first attempt of a send without sending it: the key is
-- free again.
WITH m AS (
    DELETE FROM messages WHERE id = @id::uuid AND state = 'pending'
    RETURNING id, awaited
), k AS (
    DELETE FROM message_keys AS k USING m WHERE k.message_id = m.id
)
SELECT m.awaited FROM m;

-- name: MessageAwait :one
-- A duplicate asks to be told when the send in flight ends; false when it
-- already has.
UPDATE messages AS m SET awaited = true
FROM message_keys AS k
WHERE k.api_key_id = @api_key_id::bigint AND k.idempotency_key = @idempotency_key::text
  AND m.id = k.message_id AND m.state = 'pending'
RETURNING m.id;

-- name: MessageAwaitRecord :one
-- An action on a send whose Linq answer is still being recorded asks to be
-- told when it is: the lease it has left, in ms; no row when the send is
-- not pending within its lease.
UPDATE messages AS m SET awaited = true
WHERE m.id = @id::uuid AND m.state = 'pending' AND m.lease_until > (SELECT lg_now())
RETURNING (extract(epoch FROM m.lease_until - (SELECT lg_now())) * 1000)::bigint AS lease_ms;

-- name: MessageNotifyDone :exec
-- Wakes the duplicates waiting for this send (see MessageAwait).
SELECT pg_notify('linegate_send_done', CAST(@id::uuid AS text));

-- name: MessageClaimExpiredPending :many
-- Sends whose replica did not record Linq's answer within the lease, for
-- the recovery job to resend under the same Linq key, claimed with a fresh
-- lease and their pair stamps moved to now (see message_claim_expired).
SELECT c.id::uuid AS id, c.user_id::bigint AS user_id, c.line_id::bigint AS line_id,
       c.idempotency_key::text AS idempotency_key, c.body::jsonb AS body, c.handle::text AS handle,
       c.line_number::text AS line_number, c.chat_id::text AS chat_id,
       (c.continuation_at IS NOT NULL)::boolean AS continuation, c.undeliverable::boolean AS undeliverable
FROM message_claim_expired(p_lease => @lease::interval, p_batch => @batch::integer, s => @settings::jsonb) AS c;

-- name: MessageGetForAction :one
-- A sent message with what a reaction or edit on it needs.
SELECT m.id, m.user_id, m.line_id, m.handle, m.linq_chat_id, m.linq_message_id, m.deleted_at,
       l.number AS line_number,
       u.user_ref, u.opted_out_at,
       coalesce(u.last_inbound_at >= lg_now() - @reply_window::interval, false)::boolean AS recent_inbound
FROM messages AS m
JOIN lines AS l ON l.id = m.line_id
JOIN users AS u ON u.id = m.user_id
WHERE m.id = @id::uuid AND m.state = 'sent';

-- name: MessageExpireKeys :execrows
-- Idempotency keys are kept for IDEMPOTENCY_TTL (a pending send keeps its
-- key until the send is settled); the messages stay until their day's
-- partition is dropped.
DELETE FROM message_keys
WHERE (api_key_id, idempotency_key) IN (
    SELECT k.api_key_id, k.idempotency_key FROM message_keys AS k
    WHERE k.expires_at < (SELECT lg_now())
      AND NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.id = k.message_id AND m.state = 'pending')
    ORDER BY k.expires_at
    LIMIT @batch::integer
);

-- name: MessagePartitions :one
-- Makes messages' day partitions ahead and drops those past the retention
-- (see message_partitions).
SELECT p.created::text[] AS created, p.dropped::text[] AS dropped
FROM message_partitions(p_today => @today::date, p_ahead_days => @ahead_days::integer, p_keep_from => @keep_from::date) AS p;

-- name: MessageAdmitMany :many
-- Concurrent sends' admissions in one statement and one commit (see
-- send_admit_many); n numbers each answer by its input's position (1-based).
SELECT a.n::integer AS n, a.outcome::text AS outcome, a.takeover::boolean AS takeover, a.message_id::uuid AS message_id,
       coalesce(a.user_id, 0)::bigint AS user_id, coalesce(a.user_ref, '')::text AS user_ref,
       coalesce(a.handle, '')::text AS handle, coalesce(a.line_id, 0)::bigint AS line_id,
       coalesce(a.line_number, '')::text AS line_number, coalesce(a.chat_id, '')::text AS chat_id,
       a.retry_after_ms::bigint AS retry_after_ms, a.quarantined::boolean AS quarantined,
       coalesce(a.why, '')::text AS why,
       coalesce(a.linq_message_id, '')::text AS linq_message_id, coalesce(a.trace_id, '')::text AS trace_id,
       coalesce(a.delivery_status, '')::text AS delivery_status, a.admitted_at::timestamptz AS admitted_at,
       a.lease_until::timestamptz AS lease_until, (a.continuation_at IS NOT NULL)::boolean AS continuation
FROM send_admit_many(
    p_ids => @ids::uuid[], p_api_key_ids => @api_key_ids::bigint[], p_keys => @idempotency_keys::text[],
    p_hashes => @request_hashes::bytea[], p_user_refs => @user_refs::text[], p_handles => @handles::text[],
    p_intents => @intents::text[], p_bodies => @bodies::jsonb[], s => @settings::jsonb
) AS a;

-- name: MessageGet :one
-- A message with its user and line, for GET /v1/messages/{id}.
SELECT m.id, m.state, m.intent, m.idempotency_key, m.linq_chat_id, m.linq_message_id, m.trace_id,
       m.delivery_status, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.error_code, m.deleted_at,
       m.created_at, m.updated_at, l.id AS line_id, l.number AS line_number, u.user_ref
FROM messages AS m
JOIN lines AS l ON l.id = m.line_id
JOIN users AS u ON u.id = m.user_id
WHERE m.id = @id::uuid;

-- name: MessageMarkDeleted :exec
-- Linq confirmed the message deleted (the first confirmation's time stays).
UPDATE messages
SET deleted_at = coalesce(deleted_at, lg_now()), updated_at = lg_now()
WHERE id = @id::uuid;
