-- name: LineVolumeRecordInbound :exec
-- Counts one inbound message in its minute and, when the sender is a known
-- user, remembers it for the reply reserve and counts it in the user's day.
-- The line's window row is locked before its volume row, as every writer
-- of a line's volume does (see limits_admit).
WITH lk AS MATERIALIZED (
    SELECT w.line_id FROM line_window AS w WHERE w.line_id = @line_id::bigint FOR UPDATE
), v AS (
    INSERT INTO line_volume AS lv (line_id, minute, inbound)
    SELECT @line_id::bigint, date_trunc('minute', @at::timestamptz), 1
    WHERE (SELECT count(*) FROM lk) >= 0
    ON CONFLICT (line_id, minute) DO UPDATE SET inbound = lv.inbound + 1
    RETURNING 1
), uv AS (
    INSERT INTO user_volume AS x (user_id, day, inbound)
    SELECT u.id, timezone('UTC', @at::timestamptz)::date, 1
    FROM users AS u WHERE u.id = sqlc.narg(user_id)::bigint
    ON CONFLICT (user_id, day) DO UPDATE SET inbound = x.inbound + 1
    RETURNING 1
)
UPDATE users
SET last_inbound_at = greatest(last_inbound_at, @at::timestamptz)
WHERE id = sqlc.narg(user_id)::bigint;

-- name: LineVolumePrune :execrows
-- Minute rows older than anything a reader looks at (the budget reads 24 h,
-- capacity planning 7 days), in bounded batches.
DELETE FROM line_volume
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM line_volume
    WHERE minute < (SELECT lg_now() - @keep::interval)
    LIMIT @batch::integer
));
