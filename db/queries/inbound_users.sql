-- name: InboundUserByHandle :one
SELECT id, user_ref, opted_out_at FROM users WHERE handle = @handle::text;

-- name: InboundUserByCode :one
-- The user a signup code belongs to, locked for binding, and whether one of
-- their signup links is still live (an expired code binds nobody).
SELECT u.id, u.user_ref, u.handle,
       EXISTS (SELECT 1 FROM signup_links sl WHERE sl.user_id = u.id AND sl.expires_at > @now::timestamptz)::boolean AS live
FROM users u
WHERE u.code = @code::text
FOR UPDATE OF u;

-- name: InboundUserBindHandle :execrows
-- Binds a handle to a user who has none yet.
UPDATE users SET handle = @handle::text, updated_at = @now::timestamptz
WHERE id = @id AND handle IS NULL;

-- name: InboundUserOptOut :execrows
UPDATE users
SET opted_out_at = @at::timestamptz, opt_out_source = @source::text, updated_at = @at::timestamptz
WHERE id = @id AND opted_out_at IS NULL;

-- name: InboundUserOptIn :execrows
-- An ordinary message lifts an opt-out that happened before it.
UPDATE users SET opted_out_at = NULL, opt_out_source = NULL, updated_at = @at::timestamptz
WHERE id = @id AND opted_out_at IS NOT NULL AND opted_out_at <= @at::timestamptz;

-- name: InboundUserByChat :one
-- The user and line of a Linq chat Linegate created.
SELECT c.user_id, c.line_id, u.user_ref, u.opted_out_at
FROM chats c JOIN users u ON u.id = c.user_id
WHERE c.linq_chat_id = @linq_chat_id::text
LIMIT 1;
