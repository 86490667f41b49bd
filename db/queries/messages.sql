-- name: MessageAdmit :one
-- One round trip from request to "call Linq now" (see send_admit).
SELECT a.outcome::text AS outcome, a.takeover::boolean AS takeover, a.message_id::uuid AS message_id,
       coalesce(a.user_id, 0)::bigint AS user_id, coalesce(a.user_ref, '')::text AS user_ref,
       coalesce(a.handle, '')::text AS handle, coalesce(a.line_id, 0)::bigint AS line_id,
       coalesce(a.line_number, '')::text AS line_number, coalesce(a.chat_id, '')::text AS chat_id,
       a.retry_after_ms::bigint AS retry_after_ms, a.quarantined::boolean AS quarantined,
       coalesce(a.why, '')::text AS why,
       coalesce(a.linq_message_id, '')::text AS linq_message_id, coalesce(a.trace_id, '')::text AS trace_id,
       coalesce(a.delivery_status, '')::text AS delivery_status, a.admitted_at::timestamptz AS admitted_at,
       a.lease_until::timestamptz AS lease_until
FROM send_admit(
    p_message_id => @id::uuid, p_api_key_id => @api_key_id::bigint, p_key => @idempotency_key::text,
    p_hash => @request_hash::bytea, p_user_ref => sqlc.narg(user_ref)::text, p_handle => sqlc.narg(handle)::text,
    p_intent => @intent::text, p_body => sqlc.narg(body)::jsonb, s => @settings::jsonb
) AS a;

-- name: MessageMarkSent :one
-- Records Linq's answer, and the new chat when the send opened one. The
-- send's pair stamp moves from its admission to now, a time Linq's own
-- stamp of the message cannot be later than, so the pair window never runs
-- ahead of Linq's. The parts, kept while the outcome was open (the
-- recovery job resends them), are dropped unless keep_body.
--
-- The chat is recorded only while the user's handle is still the one the
-- message went to: an import that changes the handle drops the user's
-- chats, and a send in flight for the old handle must not bring one back.
-- The user's row is locked (FOR SHARE) so that a concurrent handle change
-- either waits for this statement (and then drops the chat it added) or
-- commits first (and then the recheck of the handle finds it changed).
WITH m AS (
    UPDATE messages
    SET state = 'sent', lease_until = NULL, linq_chat_id = @linq_chat_id::text,
        linq_message_id = @linq_message_id::text, trace_id = sqlc.narg(trace_id)::text,
        delivery_status = @delivery_status::text, updated_at = lg_now(),
        body = CASE WHEN @keep_body::boolean THEN body END
    WHERE id = @id::uuid
    RETURNING user_id, line_id, handle, admitted_at, awaited
), stamp AS (
    UPDATE pair_state AS pw
    SET sends = array_replace(pw.sends, m.admitted_at, lg_now())
    FROM m
    WHERE pw.line_id = m.line_id AND pw.handle = m.handle
    RETURNING 1
), owner AS (
    SELECT u.id FROM users AS u JOIN m ON m.user_id = u.id
    WHERE @new_chat::boolean AND u.handle = m.handle
    FOR SHARE OF u
), chat AS (
    INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
    SELECT m.user_id, m.line_id, @linq_chat_id::text, lg_now() FROM m JOIN owner ON owner.id = m.user_id
    ON CONFLICT (user_id, line_id) DO NOTHING
    RETURNING 1
)
SELECT coalesce((SELECT m.awaited FROM m), false)::boolean AS awaited,
       (SELECT count(*) FROM stamp)::bigint AS restamped,
       (SELECT count(*) FROM chat)::bigint AS chats_added;

-- name: MessageOpenChat :one
-- A continuation text opened the chat on the user's line for this pending
-- send, which goes out on it next: the chat is recorded now (under
-- MessageMarkSent's handle guard), so that no later attempt sends the
-- continuation again. The continuation is a message of its own at Linq, so
-- it also takes a stamp in the pair window and a unit of the line's budget.
WITH m AS (
    SELECT msg.user_id, msg.line_id, msg.handle FROM messages AS msg
    WHERE msg.id = @id::uuid AND msg.state = 'pending'
), owner AS (
    SELECT u.id FROM users AS u JOIN m ON m.user_id = u.id
    WHERE u.handle = m.handle
    FOR SHARE OF u
), chat AS (
    INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
    SELECT m.user_id, m.line_id, @linq_chat_id::text, lg_now() FROM m JOIN owner ON owner.id = m.user_id
    ON CONFLICT (user_id, line_id) DO NOTHING
    RETURNING 1
), stamp AS (
    UPDATE pair_state AS pw SET sends = pw.sends || lg_now()
    FROM m
    WHERE pw.line_id = m.line_id AND pw.handle = m.handle
    RETURNING 1
), volume AS (
    INSERT INTO line_volume AS v (line_id, minute, outbound)
    SELECT m.line_id, date_trunc('minute', lg_now()), 1 FROM m
    ON CONFLICT (line_id, minute) DO UPDATE SET outbound = v.outbound + excluded.outbound
    RETURNING 1
)
SELECT (SELECT count(*) FROM chat)::bigint AS chats_added,
       (SELECT count(*) FROM stamp)::bigint AS stamped,
       (SELECT count(*) FROM volume)::bigint AS counted;

-- name: MessageClock :one
-- The database's clock (lg_now), which stamps what the send path observes
-- about a line (a 2027 answer), as every cross-replica decision is.
SELECT lg_now()::timestamptz AS now;

-- name: MessageMarkFailed :one
-- The outcome is unknown (5xx, timeout), or a resend was refused: keep the
-- key so that a retry with it sends again under the same Linq key.
UPDATE messages SET state = 'failed', lease_until = NULL, updated_at = lg_now()
WHERE id = @id::uuid AND state = 'pending'
RETURNING awaited;

-- name: MessageDelete :one
-- Linq refused the first attempt of a send without sending it: the key is
-- free again.
DELETE FROM messages WHERE id = @id::uuid AND state = 'pending'
RETURNING awaited;

-- name: MessageAwait :one
-- A duplicate asks to be told when the send in flight ends; false when it
-- already has.
UPDATE messages SET awaited = true
WHERE api_key_id = @api_key_id::bigint AND idempotency_key = @idempotency_key::text AND state = 'pending'
RETURNING id;

-- name: MessageNotifyDone :exec
-- Wakes the duplicates waiting for this send (see MessageAwait).
SELECT pg_notify('linegate_send_done', CAST(@id::uuid AS text));

-- name: MessageListExpiredPending :many
-- Sends whose replica did not record Linq's answer within the lease: the
-- recovery job resends them under the same Linq key.
SELECT m.id, m.user_id, m.line_id, coalesce(m.idempotency_key, '')::text AS idempotency_key, m.body,
       m.handle, l.number AS line_number, coalesce(c.linq_chat_id, '')::text AS chat_id
FROM messages AS m
JOIN lines AS l ON l.id = m.line_id
LEFT JOIN chats AS c ON c.user_id = m.user_id AND c.line_id = m.line_id
WHERE m.state = 'pending' AND m.lease_until < lg_now()
ORDER BY m.lease_until
LIMIT @batch::integer;

-- name: MessageGetForAction :one
-- A sent message with what a reaction or edit on it needs.
SELECT m.id, m.user_id, m.line_id, m.handle, m.linq_chat_id, m.linq_message_id,
       l.number AS line_number,
       u.user_ref, u.opted_out_at,
       coalesce(u.last_inbound_at >= lg_now() - @reply_window::interval, false)::boolean AS recent_inbound
FROM messages AS m
JOIN lines AS l ON l.id = m.line_id
JOIN users AS u ON u.id = m.user_id
WHERE m.id = @id::uuid AND m.state = 'sent';

-- name: MessageExpireKeys :execrows
-- Idempotency keys are kept for IDEMPOTENCY_TTL; the messages stay.
UPDATE messages SET idempotency_key = NULL, request_hash = NULL
WHERE id IN (
    SELECT id FROM messages
    WHERE idempotency_key IS NOT NULL AND idempotency_expires_at < lg_now()
      AND state <> 'pending'
    LIMIT @batch::integer
);
