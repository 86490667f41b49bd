-- name: PairStateAdmit :one
-- The pair window, loop guard and line budget for one send (see rl_admit).
SELECT a.outcome::text AS outcome, a.retry_after_ms::bigint AS retry_after_ms,
       a.quarantined::boolean AS quarantined, a.budget_used::integer AS budget_used,
       a.budget_limit::integer AS budget_limit
FROM rl_admit(
    @line_id::bigint, @handles::text[], @now::timestamptz, @pair_limit::integer, @pair_window::interval,
    @hit_limit::integer, @hit_window::interval, @quarantine::interval, @budget::integer, @warmup::interval,
    (@reserve::float8)::numeric, @reply::boolean, @line_ok::boolean, @units::integer
) AS a;

-- name: PairStateGiveBack :exec
-- Linq refused an admitted send without sending it: take its timestamp out
-- of each pair window and its unit out of the line's volume.
WITH pairs AS (
    UPDATE pair_state AS pw
    SET sends = pw.sends[:array_position(pw.sends, @at::timestamptz) - 1]
             || pw.sends[array_position(pw.sends, @at::timestamptz) + 1:]
    WHERE pw.line_id = @line_id::bigint AND pw.handle = ANY (@handles::text[])
      AND @at::timestamptz = ANY (pw.sends)
    RETURNING 1
),
-- Referencing the CTE makes Postgres finish it first, so the pair rows are
-- locked before the line's volume row: the same order as rl_admit, or the
-- two deadlock.
taken AS (SELECT count(*) AS n FROM pairs)
UPDATE line_volume AS v
SET outbound = v.outbound - @units::integer
FROM taken
WHERE v.line_id = @line_id::bigint AND v.minute = date_trunc('minute', @at::timestamptz)
  AND v.outbound >= @units::integer;

-- name: PairStateRelease :one
-- Ops lifts a quarantine; the pair starts over with no hits.
UPDATE pair_state
SET quarantined_until = NULL, hits = '{}'
WHERE line_id = @line_id AND handle = @handle AND quarantined_until > @now::timestamptz
RETURNING line_id, handle;

-- name: PairStateCleanup :execrows
-- Pairs with nothing in their window and no loop-guard state.
DELETE FROM pair_state
WHERE ctid IN (
    SELECT pw.ctid FROM pair_state AS pw
    WHERE (pw.quarantined_until IS NULL OR pw.quarantined_until <= @now::timestamptz)
      AND NOT (@sends_cutoff::timestamptz <= ANY (pw.sends))
      AND NOT (@hits_cutoff::timestamptz < ANY (pw.hits))
    LIMIT @batch::integer
);
