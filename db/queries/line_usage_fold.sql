-- name: LineUsageFoldLock :one
-- Locks the fold's row for one run of the line_usage job (lines.Rollup) and
-- reads it, with the minute the run may move the windows to: the last one
-- that closed at least lag ago.
SELECT f.generation, f.as_of, f.rebuild_floor, f.rebuild_as_of,
       (date_trunc('minute', lg_now() - @lag::interval) - interval '1 minute')::timestamptz AS target
FROM line_usage_fold AS f
FOR UPDATE;

-- name: LineUsageFoldSet :exec
UPDATE line_usage_fold
SET generation = @generation::bigint, as_of = @as_of::timestamptz,
    rebuild_floor = sqlc.narg(rebuild_floor)::timestamptz, rebuild_as_of = sqlc.narg(rebuild_as_of)::timestamptz,
    ran_at = lg_now();

-- name: LineUsageFoldNoJIT :exec
-- The fold's statements read the spans between parameters, which the
-- planner estimates at millions of rows: JIT would compile them on every
-- run, at several times the cost of running them (measured at 10,000
-- lines). Off for the run's transaction.
SELECT set_config('jit', 'off', true);

-- name: LineUsageAsOf :one
-- Where line_usage's live windows end, beside the database clock.
SELECT f.as_of, lg_now()::timestamptz AS now FROM line_usage_fold AS f;
