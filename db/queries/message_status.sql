-- name: MessageStatusLink :one
-- Links Linq's message id to ours and returns a failure that arrived before
-- the link, if any.
INSERT INTO linq_messages (linq_message_id, message_id, created_at)
VALUES (@linq_message_id::text, @message_id::uuid, @now::timestamptz)
ON CONFLICT (linq_message_id) DO UPDATE SET message_id = excluded.message_id
RETURNING failed_at, error_code;

-- name: MessageStatusFailed :one
-- Records a failure by Linq's message id; returns our message id when the
-- message is linked already.
INSERT INTO linq_messages (linq_message_id, failed_at, error_code, created_at)
VALUES (@linq_message_id::text, @failed_at::timestamptz, @error_code::integer, @now::timestamptz)
ON CONFLICT (linq_message_id) DO UPDATE
SET failed_at = coalesce(linq_messages.failed_at, excluded.failed_at),
    error_code = coalesce(linq_messages.error_code, excluded.error_code)
RETURNING message_id;

-- name: MessageStatusUpdate :one
-- Applies what an event says about a message. Times only ever get set, so
-- events arriving out of order end in the same state; the status is the
-- furthest one reached: read, delivered, failed, sent. A delivery outranks
-- a failure because Linq can report message.delivered after
-- message.failed, and a delivery proves the message arrived (failed_at and
-- error_code stay). Linq's id of the message is filled in when an event
-- brings it before the send's record does.
WITH upd AS (
    UPDATE messages m SET
        linq_message_id = coalesce(m.linq_message_id, sqlc.narg(linq_message_id)::text),
        sent_at      = coalesce(m.sent_at, sqlc.narg(sent_at)::timestamptz),
        delivered_at = coalesce(m.delivered_at, sqlc.narg(delivered_at)::timestamptz),
        read_at      = coalesce(m.read_at, sqlc.narg(read_at)::timestamptz),
        failed_at    = coalesce(m.failed_at, sqlc.narg(failed_at)::timestamptz),
        error_code   = coalesce(m.error_code, sqlc.narg(error_code)::integer),
        delivery_status = CASE
            WHEN coalesce(m.read_at, sqlc.narg(read_at)::timestamptz) IS NOT NULL THEN 'read'
            WHEN coalesce(m.delivered_at, sqlc.narg(delivered_at)::timestamptz) IS NOT NULL THEN 'delivered'
            WHEN coalesce(m.failed_at, sqlc.narg(failed_at)::timestamptz) IS NOT NULL THEN 'failed'
            WHEN coalesce(m.sent_at, sqlc.narg(sent_at)::timestamptz) IS NOT NULL THEN 'sent'
            ELSE m.delivery_status END,
        updated_at = @now::timestamptz
    WHERE m.id = @id::uuid
    RETURNING m.id, m.user_id, m.line_id, m.delivery_status, m.error_code, m.linq_message_id
)
SELECT upd.id, upd.line_id, coalesce(upd.delivery_status, '')::text AS delivery_status, upd.error_code,
       coalesce(upd.linq_message_id, '')::text AS linq_message_id, u.user_ref
FROM upd JOIN users u ON u.id = upd.user_id;

-- name: MessageStatusMessageID :one
-- Our id of the message Linq's id names, when linked: read without a lock
-- so that a batch can order its events by the messages rows they update.
SELECT message_id FROM linq_messages WHERE linq_message_id = @linq_message_id::text AND message_id IS NOT NULL;
