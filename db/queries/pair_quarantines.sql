-- name: PairQuarantineListActive :many
SELECT id, line_id, handle, hits, started_at, until
FROM pair_quarantines
WHERE released_at IS NULL AND until > lg_now()
ORDER BY started_at, id;

-- name: PairQuarantineRelease :many
UPDATE pair_quarantines
SET released_at = lg_now(), released_by = @released_by::text
WHERE line_id = @line_id AND handle = @handle AND released_at IS NULL AND until > lg_now()
RETURNING id, line_id, handle, hits, started_at, until;

-- name: PairQuarantinePrune :execrows
-- Quarantines that ended (ran out or were released) more than @keep ago, in
-- a bounded batch; until is the latest a quarantine can end.
DELETE FROM pair_quarantines
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM pair_quarantines
    WHERE until < (SELECT lg_now() - @keep::interval)
    ORDER BY until
    LIMIT @batch::integer
));
