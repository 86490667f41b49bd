-- name: PairStateAdmit :one
-- The pair window, loop guard, line policy and budget for one send to one
-- or more recipients (see limits_admit).
SELECT a.outcome::text AS outcome, a.retry_after_ms::bigint AS retry_after_ms,
       a.quarantined::boolean AS quarantined, a.budget_used::integer AS budget_used,
       a.budget_limit::integer AS budget_limit, coalesce(a.why, '')::text AS why,
       a.admitted_at::timestamptz AS admitted_at
FROM limits_admit(
    p_line_ids => ARRAY[@line_id::bigint], p_reply => ARRAY[@reply::boolean], p_units => ARRAY[@units::integer],
    p_reqs => array_fill(1, ARRAY[cardinality(@handles::text[])]), p_handles => @handles::text[],
    s => @settings::jsonb
) AS a;

-- name: PairStateGiveBack :exec
-- Linq refused an admitted send without sending it: take its timestamps
-- out of each pair window (ats: one per unit, the first the admission's
-- own) and its units out of the line's volume, which counted them in the
-- minute of the first.
-- The line's window row is locked first, then the pair rows, then the
-- volume row: limits_admit's order, or the two deadlock. (The sub-selects
-- on lk and pairs are one-time filters, run before the scans they guard.)
WITH lk AS MATERIALIZED (
    SELECT w.line_id FROM line_window AS w WHERE w.line_id = @line_id::bigint FOR UPDATE
), pairs AS (
    UPDATE pair_state AS pw
    SET sends = ARRAY(SELECT x.t FROM unnest(pw.sends) WITH ORDINALITY AS x(t, o)
                      WHERE x.t <> ALL (@ats::timestamptz[]) ORDER BY x.o)
    WHERE pw.line_id = @line_id::bigint AND pw.handle = ANY (@handles::text[])
      AND pw.sends && @ats::timestamptz[]
      AND (SELECT count(*) FROM lk) >= 0
    RETURNING 1
),
taken AS (SELECT count(*) AS n FROM pairs)
UPDATE line_volume AS v
SET outbound = v.outbound - cardinality(@ats::timestamptz[])
FROM taken
WHERE v.line_id = @line_id::bigint AND v.minute = date_trunc('minute', (@ats::timestamptz[])[1])
  AND v.outbound >= cardinality(@ats::timestamptz[]);

-- name: PairStateRelease :one
-- Ops lifts a quarantine; the pair starts over with no hits.
UPDATE pair_state
SET quarantined_until = NULL, hits = '{}'
WHERE line_id = @line_id AND handle = @handle AND quarantined_until > lg_now()
RETURNING line_id, handle;

-- name: PairStateCleanup :execrows
-- Pairs with nothing in their window and no loop-guard state.
DELETE FROM pair_state
WHERE ctid IN (
    SELECT pw.ctid FROM pair_state AS pw
    WHERE (pw.quarantined_until IS NULL OR pw.quarantined_until <= lg_now())
      AND NOT (lg_now() - @pair_window::interval <= ANY (pw.sends))
      AND NOT (lg_now() - @hit_window::interval < ANY (pw.hits))
    LIMIT @batch::integer
);
