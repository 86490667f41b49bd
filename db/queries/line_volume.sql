-- name: LineVolumeRecordInbound :exec
-- Counts one inbound message in its minute and, when the sender is a known
-- user, remembers it for the reply reserve.
WITH v AS (
    INSERT INTO line_volume AS lv (line_id, minute, inbound)
    VALUES (@line_id::bigint, date_trunc('minute', @at::timestamptz), 1)
    ON CONFLICT (line_id, minute) DO UPDATE SET inbound = lv.inbound + 1
    RETURNING 1
)
UPDATE users
SET last_inbound_at = greatest(last_inbound_at, @at::timestamptz)
WHERE id = sqlc.narg(user_id)::bigint;
