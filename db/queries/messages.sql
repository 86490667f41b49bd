-- name: MessageAdmit :one
-- One round trip from request to "call Linq now" (see send_admit).
SELECT a.outcome::text AS outcome, a.message_id::uuid AS message_id,
       coalesce(a.user_id, 0)::bigint AS user_id, coalesce(a.user_ref, '')::text AS user_ref,
       coalesce(a.handle, '')::text AS handle, coalesce(a.line_id, 0)::bigint AS line_id,
       coalesce(a.line_number, '')::text AS line_number, coalesce(a.chat_id, '')::text AS chat_id,
       a.retry_after_ms::bigint AS retry_after_ms, a.quarantined::boolean AS quarantined,
       coalesce(a.linq_message_id, '')::text AS linq_message_id, coalesce(a.trace_id, '')::text AS trace_id,
       coalesce(a.delivery_status, '')::text AS delivery_status, a.admitted_at::timestamptz AS admitted_at
FROM send_admit(
    @id::uuid, @api_key_id::bigint, @idempotency_key::text, @request_hash::bytea,
    sqlc.narg(user_ref)::text, sqlc.narg(handle)::text, @intent::text, sqlc.narg(body)::jsonb,
    @now::timestamptz, @lease::interval, @keep::interval, @reply_window::interval,
    @pair_limit::integer, @pair_window::interval, @hit_limit::integer, @hit_window::interval,
    @quarantine::interval, @budget::integer, @warmup::interval, (@reserve::float8)::numeric
) AS a;

-- name: MessageMarkSent :exec
-- Records Linq's answer to a send into a chat Linegate already knew (a HOT
-- update: none of these columns is indexed).
UPDATE messages
SET state = 'sent', lease_until = NULL, linq_chat_id = @linq_chat_id::text,
    linq_message_id = @linq_message_id::text, trace_id = sqlc.narg(trace_id)::text,
    delivery_status = @delivery_status::text, updated_at = @now::timestamptz
WHERE id = @id::uuid;

-- name: MessageMarkSentNewChat :exec
-- Records Linq's answer to the first send on a line and the new chat.
WITH m AS (
    UPDATE messages
    SET state = 'sent', lease_until = NULL, linq_chat_id = @linq_chat_id::text,
        linq_message_id = @linq_message_id::text, trace_id = sqlc.narg(trace_id)::text,
        delivery_status = @delivery_status::text, updated_at = @now::timestamptz
    WHERE id = @id::uuid
    RETURNING user_id, line_id
)
INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
SELECT m.user_id, m.line_id, @linq_chat_id::text, @now::timestamptz FROM m
ON CONFLICT (user_id, line_id) DO NOTHING;

-- name: MessageMarkFailed :exec
-- The outcome is unknown (5xx, timeout): keep the key so that a retry with
-- it sends again under the same Linq key.
UPDATE messages SET state = 'failed', lease_until = NULL, updated_at = @now::timestamptz
WHERE id = @id::uuid AND state = 'pending';

-- name: MessageDelete :exec
-- Linq refused the send without sending it: the key is free again.
DELETE FROM messages WHERE id = @id::uuid AND state <> 'sent';

-- name: MessageGetForAction :one
-- A sent message with what a reaction or edit on it needs.
SELECT m.id, m.user_id, m.line_id, m.handle, m.linq_chat_id, m.linq_message_id,
       l.number AS line_number,
       line_can_send(l)::boolean AS line_ok,
       u.user_ref, u.opted_out_at, u.last_inbound_at
FROM messages AS m
JOIN lines AS l ON l.id = m.line_id
JOIN users AS u ON u.id = m.user_id
WHERE m.id = @id::uuid AND m.state = 'sent';

-- name: MessageExpireKeys :execrows
-- Idempotency keys are kept for IDEMPOTENCY_TTL; the messages stay.
UPDATE messages SET idempotency_key = NULL, request_hash = NULL
WHERE id IN (
    SELECT id FROM messages
    WHERE idempotency_key IS NOT NULL AND idempotency_expires_at < @now::timestamptz
      AND state <> 'pending'
    LIMIT @batch::integer
);
