-- name: LinqMessagePrune :execrows
-- Links (and failures waiting for one) older than @keep, in a bounded batch:
-- Linq's events about a message come within hours of it.
DELETE FROM linq_messages
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM linq_messages
    WHERE created_at < (SELECT lg_now() - @keep::interval)
    ORDER BY created_at
    LIMIT @batch::integer
));
