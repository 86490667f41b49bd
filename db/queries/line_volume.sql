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

-- name: LineVolumePrune :execrows
-- Minute rows older than anything a reader looks at (the budget reads 24 h,
-- capacity planning 7 days), in bounded batches.
DELETE FROM line_volume
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM line_volume
    WHERE minute < lg_now() - @keep::interval
    LIMIT @batch::integer
));
