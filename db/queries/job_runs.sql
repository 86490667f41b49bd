-- name: JobTryLock :one
SELECT pg_try_advisory_lock(@key::bigint)::bool AS locked;

-- name: JobUnlock :one
SELECT pg_advisory_unlock(@key::bigint)::bool AS unlocked;

-- name: JobRunClaim :one
-- Claims a run of the job unless one started less than the given gap before
-- now: the first replica to reach a tick wins it, the others find the row
-- already claimed. Both times are read on the database clock, lg_now, so a
-- replica whose own clock is off cannot rerun a tick another one ran.
INSERT INTO job_runs (name, last_started_at) VALUES (@name, lg_now())
ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at, last_finished_at = NULL
WHERE job_runs.last_started_at <= lg_now() - make_interval(secs => @min_gap_seconds::float8)
RETURNING name;

-- name: JobRunFinish :exec
UPDATE job_runs SET last_finished_at = lg_now(), last_result = @result::text, last_error = sqlc.narg(error)::text
WHERE name = @name;
