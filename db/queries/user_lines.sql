-- name: UserLineBackupSlots :many
-- How many backup slots each line holds for the users of each given home
-- line: the count the triggers on user_lines and users keep (migration
-- 00130), one row per line holding slots for a home line rather than one
-- per user of it.
SELECT s.home_line_id, s.line_id, s.slots
FROM line_backup_slots s
WHERE s.home_line_id = ANY(@home_line_ids::bigint[]);

-- name: UserLineListByUser :many
SELECT ul.position, l.id, l.number, l.admin_state, l.reputation, l.service_status
FROM user_lines ul JOIN lines l ON l.id = ul.line_id
WHERE ul.user_id = @user_id
ORDER BY ul.position;

-- name: UserLineDeleteForUsers :exec
DELETE FROM user_lines WHERE user_id = ANY(@user_ids::bigint[]);

-- name: UserLineInsertBatch :exec
INSERT INTO user_lines (user_id, position, line_id)
SELECT s.user_id, s.position, s.line_id
FROM (SELECT unnest(@user_ids::bigint[]) AS user_id, unnest(@positions::smallint[]) AS position, unnest(@line_ids::bigint[]) AS line_id) AS s;
