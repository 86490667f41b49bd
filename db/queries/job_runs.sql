-- name: JobTryLock :one
SELECT pg_try_advisory_lock(@key::bigint)::bool AS locked;

-- name: JobUnlock :one
SELECT pg_advisory_unlock(@key::bigint)::bool AS unlocked;

-- name: JobRunClaim :one
-- Claims a run of the job unless one started after @claim_after: the first
-- replica to reach a tick wins it, the others find the row already claimed.
INSERT INTO job_runs (name, last_started_at) VALUES (@name, @now::timestamptz)
ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at, last_finished_at = NULL
WHERE job_runs.last_started_at <= @claim_after::timestamptz
RETURNING name;

-- name: JobRunFinish :exec
UPDATE job_runs SET last_finished_at = @now::timestamptz, last_result = @result::text, last_error = sqlc.narg(error)::text
WHERE name = @name;
