-- name: RiverSchemaLock :exec
-- Serialises replicas that apply River's migrations at the same time; held
-- by the session across River's per-version transactions.
SELECT pg_advisory_lock(@key::bigint);
