-- name: LineHealthHistoryPrune :execrows
-- Health transitions recorded more than @keep ago, in a bounded batch. The
-- flap count reads observed_at, which is never after created_at, within a
-- window the retention is at least as long as.
DELETE FROM line_health_history
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM line_health_history
    WHERE created_at < (SELECT lg_now() - @keep::interval)
    ORDER BY created_at
    LIMIT @batch::integer
));
