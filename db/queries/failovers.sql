-- name: FailoverInsert :one
INSERT INTO failovers (line_id, reason, cause, started_at)
VALUES (@line_id, @reason, @cause, @started_at::timestamptz)
RETURNING id;

-- name: FailoverFinish :exec
UPDATE failovers SET finished_at = @finished_at::timestamptz, users_moved = @users_moved, stranded = @stranded
WHERE id = @id;

-- name: FailoverList :many
-- Failovers, newest first, before the id cursor (0: from the newest), with
-- where their users went.
SELECT f.id, f.line_id, l.number, f.reason, f.cause, f.started_at, f.finished_at, f.users_moved, f.stranded,
       coalesce(t.line_ids, '{}')::bigint[] AS to_line_ids,
       coalesce(t.users, '{}')::int[] AS to_line_users
FROM failovers f
JOIN lines l ON l.id = f.line_id
LEFT JOIN LATERAL (
    SELECT array_agg(g.to_line_id ORDER BY g.to_line_id) AS line_ids, array_agg(g.n ORDER BY g.to_line_id) AS users
    FROM (SELECT m.to_line_id, count(*)::int AS n
          FROM failover_moves m
          WHERE m.failover_id = f.id AND m.to_line_id IS NOT NULL
          GROUP BY m.to_line_id) g
) t ON true
WHERE @before_id::bigint = 0 OR f.id < @before_id::bigint
ORDER BY f.id DESC
LIMIT @max_rows;

-- name: FailoverPrune :execrows
-- Failovers started more than @keep ago, in a bounded batch; their moves
-- go with them (ON DELETE CASCADE through failover_moves' primary key), so
-- the batch counts failovers, each of up to a line's users.
DELETE FROM failovers
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM failovers
    WHERE started_at < (SELECT lg_now() - @keep::interval)
    ORDER BY started_at
    LIMIT @batch::integer
));
