-- name: UserVolumeFold :one
-- Adds the messages made after the fold's mark, up to @lag before now (by
-- then a refused first attempt has given its row back) and at most @span
-- past the mark, to their users' outbound per UTC day of admission, and
-- moves the mark, in one statement. "Made" is the time in a message's
-- UUIDv7 id, so each message is counted exactly once and found by an id
-- range; the lag covers a replica whose clock runs behind.
WITH mark AS MATERIALIZED (
    SELECT f.folded_until AS lo,
           least(lg_now() - @lag::interval, f.folded_until + @span::interval) AS hi
    FROM user_volume_fold AS f
    FOR UPDATE
), counted AS (
    SELECT m.user_id, (m.created_at AT TIME ZONE 'UTC')::date AS day, count(*)::integer AS n
    FROM mark
    JOIN messages AS m ON m.id >= message_id_floor(mark.lo) AND m.id < message_id_floor(mark.hi)
    WHERE mark.hi > mark.lo
    GROUP BY 1, 2
), added AS (
    INSERT INTO user_volume AS v (user_id, day, outbound)
    SELECT c.user_id, c.day, c.n FROM counted AS c
    -- A user deleted since has no row to count on.
    WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = c.user_id)
    ORDER BY c.user_id, c.day
    ON CONFLICT (user_id, day) DO UPDATE SET outbound = v.outbound + excluded.outbound
), moved AS (
    UPDATE user_volume_fold AS f SET folded_until = mark.hi
    FROM mark
    WHERE mark.hi > mark.lo
    RETURNING f.folded_until
)
SELECT coalesce((SELECT sum(c.n) FROM counted AS c), 0)::bigint AS messages,
       coalesce((SELECT m.folded_until FROM moved AS m), (SELECT mark.lo FROM mark))::timestamptz AS folded_until;

-- name: UserVolumePrune :execrows
-- Days that ended more than @keep ago, in bounded batches.
DELETE FROM user_volume
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM user_volume
    WHERE day < timezone('UTC', lg_now() - @keep::interval)::date
    LIMIT @batch::integer
));

-- name: UserVolumeListByUser :many
-- A user's last @days UTC days (today included, by the database clock),
-- oldest first.
SELECT day, inbound, outbound FROM user_volume
WHERE user_id = @user_id AND day > (lg_now() AT TIME ZONE 'UTC')::date - @days::integer
ORDER BY day;

-- name: UserVolumeFoldedUntil :one
SELECT folded_until FROM user_volume_fold;
