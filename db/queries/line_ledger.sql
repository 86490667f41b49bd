-- name: LineLedgerListByUser :many
SELECT * FROM line_ledger WHERE user_id = @user_id ORDER BY created_at, id;

-- name: LineLedgerPrune :one
-- One batch of ledger rows older than @keep, after the cursor (created_at,
-- id) in index order: those a newer row of the same user supersedes are
-- deleted; each user's newest row stays, because sends and recovery read it.
-- Returns how many rows were looked at and deleted and the new cursor, so
-- that one run reads each old row once.
WITH scanned AS (
    -- superseded is a per-row probe of line_ledger_user_idx, never a join
    -- over the whole ledger.
    SELECT l.id, l.created_at,
           l.id <> (SELECT n.id FROM line_ledger n WHERE n.user_id = l.user_id
                    ORDER BY n.created_at DESC, n.id DESC LIMIT 1) AS superseded
    FROM line_ledger l
    WHERE l.created_at < (SELECT lg_now() - @keep::interval)
      AND (l.created_at, l.id) > (@after_at::timestamptz, @after_id::bigint)
    ORDER BY l.created_at, l.id
    LIMIT @batch::integer
), gone AS (
    DELETE FROM line_ledger d
    WHERE d.id = ANY (ARRAY(SELECT s.id FROM scanned s WHERE s.superseded))
    RETURNING d.id
), last AS (
    SELECT s.created_at, s.id FROM scanned s ORDER BY s.created_at DESC, s.id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM scanned)::bigint AS scanned,
       (SELECT count(*) FROM gone)::bigint AS deleted,
       coalesce((SELECT created_at FROM last), @after_at::timestamptz)::timestamptz AS last_at,
       coalesce((SELECT id FROM last), @after_id::bigint)::bigint AS last_id;
