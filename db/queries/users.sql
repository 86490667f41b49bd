-- name: UserFindForSignup :many
-- Users a batch of signups collides with, by user_ref or by handle.
SELECT id, user_ref, handle FROM users
WHERE user_ref = ANY(@user_refs::text[]) OR handle = ANY(@handles::text[]);

-- name: UserGetByRef :one
SELECT * FROM users WHERE user_ref = @user_ref;

-- name: UserGetByHandle :one
SELECT * FROM users WHERE handle = @handle::text;

-- name: UserDeleteByRef :one
-- Removes a user and what is theirs alone (line set, ledger, signup links,
-- chats, volume, failover moves, card shares: ON DELETE CASCADE).
DELETE FROM users WHERE user_ref = @user_ref::text
RETURNING id, current_line_id;

-- name: UserLockForHandle :exec
-- Locks a user whose handle is about to change FOR UPDATE, not the NO KEY
-- lock the update alone would take (the handle's unique index is partial,
-- so it is no key column): a send recording a chat holds the user FOR KEY
-- SHARE (message_mark_sent_many), and the two must wait for each other.
SELECT 1 FROM users WHERE id = @id FOR UPDATE;

-- name: UserUpdateProfile :one
UPDATE users SET
    handle       = coalesce(sqlc.narg(handle)::text, handle),
    display_name = coalesce(sqlc.narg(display_name)::text, display_name),
    updated_at   = @now::timestamptz
WHERE id = @id
RETURNING *;

-- name: UserSignupBatch :exec
-- Writes a batch of new users in one statement: the users, their line sets,
-- a ledger row and a signup link each, then the lines' user counts, last
-- assignment times and hourly signup buckets.
WITH input AS (
    SELECT * FROM (SELECT unnest(@user_refs::text[]) AS user_ref, unnest(@handles::text[]) AS handle, unnest(@display_names::text[]) AS display_name, unnest(@codes::text[]) AS code, unnest(@home_line_ids::bigint[]) AS home_line_id, unnest(@tokens::text[]) AS token, unnest(@bodies::text[]) AS body, unnest(@reasons::text[]) AS reason) AS t
), ins AS (
    INSERT INTO users (user_ref, handle, display_name, code, home_line_id, current_line_id, created_at, updated_at)
    SELECT i.user_ref, nullif(i.handle, ''), nullif(i.display_name, ''), i.code, i.home_line_id, i.home_line_id,
           @now::timestamptz, @now::timestamptz
    FROM input i
    ORDER BY i.user_ref -- one order for every batch: concurrent batches never wait on each other crosswise
    RETURNING id, user_ref
), sets AS (
    SELECT * FROM (SELECT unnest(@set_user_refs::text[]) AS user_ref, unnest(@set_positions::smallint[]) AS position, unnest(@set_line_ids::bigint[]) AS line_id) AS s
), new_sets AS (
    INSERT INTO user_lines (user_id, position, line_id)
    SELECT ins.id, s.position, s.line_id FROM sets s JOIN ins ON ins.user_ref = s.user_ref
), ledger AS (
    INSERT INTO line_ledger (user_id, reason, to_line_id, line_set, created_at)
    SELECT ins.id, i.reason, i.home_line_id, st.line_set, @now::timestamptz
    FROM ins JOIN input i ON i.user_ref = ins.user_ref
    -- Grouped once, not looked up per user in the whole list.
    LEFT JOIN (SELECT s.user_ref, array_agg(s.line_id ORDER BY s.position) AS line_set
               FROM sets s GROUP BY s.user_ref) AS st ON st.user_ref = ins.user_ref
), links AS (
    INSERT INTO signup_links (token, user_id, body, expires_at, created_at)
    SELECT i.token, ins.id, i.body, @expires_at::timestamptz, @now::timestamptz
    FROM ins JOIN input i ON i.user_ref = ins.user_ref
), bump AS (
    UPDATE lines l SET user_count = l.user_count + b.users, last_assigned_at = b.last_assigned_at,
                       updated_at = @now::timestamptz
    FROM (SELECT unnest(@bump_line_ids::bigint[]) AS line_id, unnest(@bump_users::int[]) AS users, unnest(@bump_last_assigned::timestamptz[]) AS last_assigned_at) AS b
    WHERE l.id = b.line_id
)
INSERT INTO line_signups (line_id, minute, n)
SELECT b.line_id, @minute::timestamptz, b.users
FROM (SELECT unnest(@bump_line_ids::bigint[]) AS line_id, unnest(@bump_users::int[]) AS users) AS b
ON CONFLICT (line_id, minute) DO UPDATE SET n = line_signups.n + excluded.n;

-- name: UserMoveBatch :many
-- Rewrites the home and current line of moved users and records a ledger row
-- each, returned with the user's ref. Their line sets are written by
-- UserLineDeleteForUsers and UserLineInsertBatch; run it between the two,
-- so a new home finds no set to carry over (the trigger keeping
-- line_backup_slots would do it row by row).
WITH input AS (
    SELECT * FROM (SELECT unnest(@user_ids::bigint[]) AS user_id, unnest(@home_line_ids::bigint[]) AS home_line_id, unnest(@current_line_ids::bigint[]) AS current_line_id, unnest(@from_line_ids::bigint[]) AS from_line_id, unnest(@notes::text[]) AS note) AS t
), upd AS (
    UPDATE users u SET home_line_id = i.home_line_id, current_line_id = i.current_line_id, updated_at = @now::timestamptz
    FROM input i WHERE u.id = i.user_id
    RETURNING u.id, u.user_ref
), sets AS (
    -- Grouped once: a lookup per user into the whole set list was
    -- quadratic (19 s for the 10,000 users of one line).
    SELECT s.user_id, array_agg(s.line_id ORDER BY s.position) AS line_set
    FROM (SELECT unnest(@set_user_ids::bigint[]) AS user_id, unnest(@set_positions::smallint[]) AS position, unnest(@set_line_ids::bigint[]) AS line_id) AS s
    GROUP BY s.user_id
), ins AS (
    INSERT INTO line_ledger (user_id, reason, from_line_id, to_line_id, line_set, note, created_at)
    SELECT i.user_id, @reason::text, i.from_line_id, i.current_line_id, st.line_set,
           nullif(i.note, ''), @now::timestamptz
    FROM input i
    LEFT JOIN sets st ON st.user_id = i.user_id
    RETURNING id, user_id, from_line_id, to_line_id
)
SELECT ins.id AS ledger_id, ins.user_id, upd.user_ref, ins.from_line_id::bigint AS from_line_id, ins.to_line_id
FROM ins JOIN upd ON upd.id = ins.user_id;

-- name: UserListByCurrentLine :many
-- A page of the users whose current line it is, in id order after @after.
SELECT u.id, u.user_ref, u.handle, u.home_line_id, u.opted_out_at, u.last_inbound_at, u.created_at
FROM users AS u
WHERE u.current_line_id = @line_id AND u.id > @after
ORDER BY u.id
LIMIT @lim;
