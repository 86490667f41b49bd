-- name: FailoverMoveSeed :execrows
-- Records (and locks, in id order) the users whose current line is the
-- failed line. NO KEY: a send recording a chat for one of them (KEY SHARE)
-- does not wait for the move, nor the move for it.
INSERT INTO failover_moves (failover_id, user_id, from_line_id)
SELECT @failover_id::bigint, u.id, u.current_line_id
FROM users u
WHERE u.current_line_id = @line_id::bigint
ORDER BY u.id
FOR NO KEY UPDATE OF u;

-- name: FailoverMoveMaxRank :one
-- The largest line set among the users still to place: how many backup
-- rounds can place anyone.
SELECT coalesce(max(c.n), 0)::int AS n
FROM (SELECT count(*) AS n
      FROM failover_moves m JOIN user_lines ul ON ul.user_id = m.user_id
      WHERE m.failover_id = @failover_id::bigint AND m.to_line_id IS NULL
      GROUP BY m.user_id) c;

-- name: FailoverMoveAssignBackups :execrows
-- One round of placing: each user still to place tries the target line
-- that comes @skip places after their first one (in set order, the failed
-- line left out) and gets it if the line has room left; users take the
-- room in id order. @line_ids and @rooms are the target lines and how many
-- users each may still take.
WITH room AS (
    -- The placements so far are counted once, not once per target line.
    SELECT r.line_id, r.room - coalesce(t.n, 0)::int AS free
    FROM (SELECT unnest(@line_ids::bigint[]) AS line_id, unnest(@rooms::int[]) AS room) AS r
    LEFT JOIN (SELECT m2.to_line_id, count(*) AS n
               FROM failover_moves m2
               WHERE m2.failover_id = @failover_id::bigint AND m2.to_line_id IS NOT NULL
               GROUP BY m2.to_line_id) t ON t.to_line_id = r.line_id
), ordered AS (
    -- Each user's target lines in set order, joined in one pass (a
    -- lateral lookup per user would scan the targets once per user).
    SELECT fm.user_id, ul.line_id, row_number() OVER (PARTITION BY fm.user_id ORDER BY ul.position) AS k
    FROM failover_moves fm
    JOIN user_lines ul ON ul.user_id = fm.user_id
    JOIN room rm ON rm.line_id = ul.line_id
    WHERE fm.failover_id = @failover_id::bigint AND fm.to_line_id IS NULL AND ul.line_id <> fm.from_line_id
), choice AS (
    SELECT o.user_id, o.line_id
    FROM ordered o
    WHERE o.k = 1 + @skip::int
), ranked AS (
    SELECT ch.user_id, ch.line_id, row_number() OVER (PARTITION BY ch.line_id ORDER BY ch.user_id) AS n
    FROM choice ch
)
UPDATE failover_moves m SET to_line_id = rk.line_id, via = 'backup'
FROM ranked rk JOIN room ON room.line_id = rk.line_id
WHERE m.failover_id = @failover_id::bigint AND m.user_id = rk.user_id AND rk.n <= room.free;

-- name: FailoverMoveAssignPool :execrows
-- The last round: users still to place go to any target line with room
-- left, spread one by one across the lines.
WITH room AS (
    -- The placements so far are counted once, not once per target line.
    SELECT r.line_id, r.room - coalesce(t.n, 0)::int AS free
    FROM (SELECT unnest(@line_ids::bigint[]) AS line_id, unnest(@rooms::int[]) AS room) AS r
    LEFT JOIN (SELECT m2.to_line_id, count(*) AS n
               FROM failover_moves m2
               WHERE m2.failover_id = @failover_id::bigint AND m2.to_line_id IS NOT NULL
               GROUP BY m2.to_line_id) t ON t.to_line_id = r.line_id
), waiting AS (
    SELECT m.user_id, row_number() OVER (ORDER BY m.user_id) AS n
    FROM failover_moves m
    WHERE m.failover_id = @failover_id::bigint AND m.to_line_id IS NULL
), slots AS (
    SELECT room.line_id, row_number() OVER (ORDER BY s.k, room.line_id) AS n
    FROM room
    CROSS JOIN LATERAL generate_series(1, least(room.free, (SELECT count(*) FROM waiting)::int)) AS s (k)
    WHERE room.free > 0
)
UPDATE failover_moves m SET to_line_id = slots.line_id, via = 'pool'
FROM waiting w JOIN slots ON slots.n = w.n
WHERE m.failover_id = @failover_id::bigint AND m.user_id = w.user_id;

-- name: FailoverMoveApply :many
-- Moves the placed users of a failover: their current line, their line set
-- (a pool placement joins the set at its end), a ledger row each. Returns
-- the moves.
WITH placed AS (
    SELECT m.user_id, m.from_line_id, m.to_line_id, m.via
    FROM failover_moves m
    WHERE m.failover_id = @failover_id::bigint AND m.to_line_id IS NOT NULL
), upd AS (
    UPDATE users u SET current_line_id = p.to_line_id, updated_at = @now::timestamptz
    FROM placed p WHERE u.id = p.user_id
    RETURNING u.id, u.user_ref
), grow AS (
    INSERT INTO user_lines (user_id, position, line_id)
    SELECT p.user_id, (SELECT max(ul.position) + 1 FROM user_lines ul WHERE ul.user_id = p.user_id), p.to_line_id
    FROM placed p WHERE p.via = 'pool'
), ledger AS (
    INSERT INTO line_ledger (user_id, reason, from_line_id, to_line_id, line_set, note, created_at)
    SELECT p.user_id, @reason::text, p.from_line_id, p.to_line_id,
           (SELECT array_agg(ul.line_id ORDER BY ul.position) FROM user_lines ul WHERE ul.user_id = p.user_id)
             || CASE WHEN p.via = 'pool' THEN ARRAY[p.to_line_id] ELSE '{}'::bigint[] END,
           sqlc.narg(note)::text, @now::timestamptz
    FROM placed p
    RETURNING id, user_id, from_line_id, to_line_id
)
SELECT ledger.id AS ledger_id, ledger.user_id, upd.user_ref, ledger.from_line_id::bigint AS from_line_id, ledger.to_line_id
FROM ledger JOIN upd ON upd.id = ledger.user_id
ORDER BY ledger.user_id;

-- name: UserRecoverBatch :many
-- Brings users back to their home line: for each of @line_ids, at most the
-- matching @limits of its users who are away because of a failover (their
-- newest ledger row says so; a later ops move keeps them where ops put
-- them). Users being moved by another transaction are skipped this time.
WITH want AS (
    SELECT unnest(@line_ids::bigint[]) AS line_id, unnest(@limits::int[]) AS n
), cand AS (
    SELECT c.id AS user_id, c.user_ref, c.current_line_id AS from_line_id, want.line_id AS to_line_id
    FROM want
    CROSS JOIN LATERAL (
        SELECT u.id, u.user_ref, u.current_line_id
        FROM users u
        WHERE u.home_line_id = want.line_id AND u.current_line_id <> want.line_id
          AND (SELECT g.reason FROM line_ledger g WHERE g.user_id = u.id
               ORDER BY g.created_at DESC, g.id DESC LIMIT 1) = 'failover'
        ORDER BY u.id
        LIMIT want.n
        FOR NO KEY UPDATE OF u SKIP LOCKED
    ) c
), upd AS (
    UPDATE users u SET current_line_id = cand.to_line_id, updated_at = @now::timestamptz
    FROM cand WHERE u.id = cand.user_id
), ledger AS (
    INSERT INTO line_ledger (user_id, reason, from_line_id, to_line_id, line_set, created_at)
    SELECT cand.user_id, 'recovery', cand.from_line_id, cand.to_line_id,
           (SELECT array_agg(ul.line_id ORDER BY ul.position) FROM user_lines ul WHERE ul.user_id = cand.user_id),
           @now::timestamptz
    FROM cand
    RETURNING id, user_id
)
SELECT ledger.id AS ledger_id, cand.user_id, cand.user_ref, cand.from_line_id, cand.to_line_id::bigint AS to_line_id
FROM ledger JOIN cand ON cand.user_id = ledger.user_id
ORDER BY cand.user_id;

-- name: UserListForLineMove :many
-- Users whose line set holds the line, or whose home or current line it is,
-- with their whole set in order. Each condition is its own index lookup.
WITH ids AS (
    SELECT ul.user_id AS id FROM user_lines ul WHERE ul.line_id = @line_id::bigint
    UNION
    SELECT u.id FROM users u WHERE u.current_line_id = @line_id::bigint
    UNION
    SELECT u.id FROM users u WHERE u.home_line_id = @line_id::bigint
)
SELECT u.id, u.user_ref, u.home_line_id, u.current_line_id,
       (SELECT array_agg(ul.line_id ORDER BY ul.position) FROM user_lines ul WHERE ul.user_id = u.id)::bigint[] AS line_set
FROM ids JOIN users u ON u.id = ids.id
ORDER BY u.id;

-- name: UserGetForMove :one
-- One user with their whole line set in order, locked for a move.
SELECT u.id, u.user_ref, u.home_line_id, u.current_line_id,
       coalesce((SELECT array_agg(ul.line_id ORDER BY ul.position) FROM user_lines ul WHERE ul.user_id = u.id), '{}')::bigint[] AS line_set
FROM users u
WHERE u.user_ref = @user_ref
FOR NO KEY UPDATE OF u;
