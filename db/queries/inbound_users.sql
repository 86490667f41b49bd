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
-- Binds a handle to a user who has none yet, unless it is one of the
-- pool's own line numbers (as signups refuse it): the user's sends would
-- go line to line.
UPDATE users AS u SET handle = @handle::text, updated_at = @now::timestamptz
WHERE u.id = @id::bigint AND u.handle IS NULL
  AND NOT EXISTS (SELECT 1 FROM lines AS l WHERE l.number = @handle::text);

-- name: InboundUserOptOut :execrows
-- An opt-out at @at, unless the user wrote an ordinary message at or after
-- it: Linq lifts an opt-out on any later non-keyword message, and that
-- message's event may have been processed first.
UPDATE users
SET opted_out_at = @at::timestamptz, opt_out_source = @source::text, updated_at = @at::timestamptz
WHERE id = @id AND opted_out_at IS NULL
  AND (last_ordinary_inbound_at IS NULL OR last_ordinary_inbound_at < @at::timestamptz);

-- name: InboundUserOptIn :one
-- An ordinary (non-keyword) message at @at: remembered as the user's latest,
-- so that an older opt-out processed later does not apply, and it lifts an
-- opt-out that happened before it. lifted says whether it did. The row is
-- locked first so that the opt-out it reads is the one it replaces (NO
-- KEY, the lock the update takes anyway).
WITH old AS (
    SELECT x.id, x.opted_out_at FROM users AS x WHERE x.id = @id::bigint FOR NO KEY UPDATE
)
UPDATE users AS u
SET last_ordinary_inbound_at = greatest(u.last_ordinary_inbound_at, @at::timestamptz),
    opted_out_at   = CASE WHEN old.opted_out_at <= @at::timestamptz THEN NULL ELSE u.opted_out_at END,
    opt_out_source = CASE WHEN old.opted_out_at <= @at::timestamptz THEN NULL ELSE u.opt_out_source END,
    updated_at     = CASE WHEN old.opted_out_at <= @at::timestamptz THEN @at::timestamptz ELSE u.updated_at END
FROM old
WHERE u.id = old.id
RETURNING coalesce(old.opted_out_at <= @at::timestamptz, false)::boolean AS lifted;

-- name: InboundUserByChat :one
-- The user and line of a Linq chat Linegate created.
SELECT c.user_id, c.line_id, u.user_ref, u.opted_out_at
FROM chats c JOIN users u ON u.id = c.user_id
WHERE c.linq_chat_id = @linq_chat_id::text
LIMIT 1;
