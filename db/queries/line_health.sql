-- name: LineHealthGet :one
-- A line's health inputs and state, by id.
SELECT * FROM lines WHERE id = @id;

-- name: LineHealthIDByNumber :one
SELECT id FROM lines WHERE number = @number;

-- name: LineHealthLock :one
-- The same, locking the row so that inputs of one line apply one at a time.
-- NO KEY: the key-share locks of foreign keys (a send's new line_volume
-- minute, a chat opened on the line) do not wait on it.
SELECT * FROM lines WHERE id = @id
FOR NO KEY UPDATE;

-- name: LineHealthUpdate :execrows
-- Stores an applied input and the state derived from it: @status_at,
-- @reputation_at and @listing_at are when it saw each signal it set (null
-- for the others), @at the newest of them. Nothing is stored when an input
-- newer for one of those signals was applied meanwhile.
UPDATE lines SET
    service_status      = @service_status::text,
    reputation          = @reputation::text,
    ineligible_at       = sqlc.narg(ineligible_at)::timestamptz,
    linq_missing_at     = sqlc.narg(missing_at)::timestamptz,
    health_state        = @health_state::text,
    health_since        = sqlc.narg(health_since)::timestamptz,
    health_cause        = sqlc.narg(health_cause)::text,
    held_at             = sqlc.narg(held_at)::timestamptz,
    recovery_at         = sqlc.narg(recovery_at)::timestamptz,
    status_input_at     = coalesce(sqlc.narg(status_at)::timestamptz, status_input_at),
    reputation_input_at = coalesce(sqlc.narg(reputation_at)::timestamptz, reputation_input_at),
    listing_input_at    = coalesce(sqlc.narg(listing_at)::timestamptz, listing_input_at),
    health_confirmed_at = greatest(health_confirmed_at, @at::timestamptz),
    status_changed_at   = CASE WHEN @changed::bool THEN @at::timestamptz ELSE status_changed_at END,
    updated_at          = @now::timestamptz
WHERE id = @id
  AND (sqlc.narg(status_at)::timestamptz IS NULL OR status_input_at IS NULL OR status_input_at < sqlc.narg(status_at)::timestamptz)
  AND (sqlc.narg(reputation_at)::timestamptz IS NULL OR reputation_input_at IS NULL OR reputation_input_at < sqlc.narg(reputation_at)::timestamptz)
  AND (sqlc.narg(listing_at)::timestamptz IS NULL OR listing_input_at IS NULL OR listing_input_at < sqlc.narg(listing_at)::timestamptz);

-- name: LineHealthFlapCount :one
-- How often the line entered a failing state since @since.
SELECT count(*)::int AS n
FROM line_health_history
WHERE line_id = @line_id AND observed_at > @since::timestamptz
  AND to_state IN ('critical', 'down', 'missing') AND from_state NOT IN ('critical', 'down', 'missing');

-- name: LineHealthHistoryInsert :one
INSERT INTO line_health_history (line_id, from_state, to_state, source, cause, event_id, observed_at, created_at)
VALUES (@line_id, @from_state, @to_state, @source, @cause, sqlc.narg(event_id), @observed_at::timestamptz, @now::timestamptz)
RETURNING id;

-- name: LineHealthList :many
-- Every line's health inputs and state, for the poll, the sweep and ops.
SELECT id, number, admin_state, service_status, reputation, ineligible_at, linq_missing_at,
       health_state, health_since, health_cause, held_at, status_input_at, reputation_input_at,
       listing_input_at, health_confirmed_at, recovery_at, user_count
FROM lines
ORDER BY id;

-- name: LineHealthRecoverNow :one
-- Ops re-activate a line: no longer held, its users may come back now.
UPDATE lines SET held_at = NULL, recovery_at = @now::timestamptz, updated_at = @now::timestamptz
WHERE id = @id
RETURNING health_state;

-- name: LineHealthRecoverable :many
-- Lines whose users may come back now and that have users away.
SELECT l.id, l.user_count
FROM lines l
WHERE l.health_state = 'ok' AND l.held_at IS NULL AND l.admin_state = 'active'
  AND l.recovery_at <= @now::timestamptz
  AND EXISTS (SELECT 1 FROM users u WHERE u.home_line_id = l.id AND u.current_line_id <> l.id)
ORDER BY l.id;

-- name: LineHealthStranded :one
-- Users whose current line is failing: they stay until the pool has room.
SELECT coalesce(sum(user_count), 0)::bigint AS users
FROM lines
WHERE health_state IN ('critical', 'down', 'missing');

-- name: LineHealthConfirmMany :many
-- The poll's input for lines it found as stored, in one statement: each
-- line is confirmed when its signals and state are still the ones given
-- (nothing changed since the poll read them) and the poll saw each signal
-- it saw later than the stored one was seen: the service status at the
-- line's status_at when status_seen (its check answered), the reputation
-- when reputation_seen (Linq lists the line) and the listing, both at
-- @listed_at. Returns the lines confirmed; the caller applies the others
-- one by one. It takes no pool lock and waits for no row: a line whose row
-- another transaction holds is skipped (SKIP LOCKED) and goes the long way
-- too. Waiting would deadlock: a failover holds its failing line's row
-- (LineHealthLock) before it updates the counts of its target lines
-- (LineBumpCounts), and a retire holds the retired line's the same way, so
-- whoever locks many lines without the pool lock must not wait.
WITH lk AS MATERIALIZED (
    SELECT lo.id FROM lines AS lo WHERE lo.id = ANY (@ids::bigint[]) FOR NO KEY UPDATE SKIP LOCKED
)
UPDATE lines AS l SET
    status_input_at     = CASE WHEN x.status_seen THEN x.status_at ELSE l.status_input_at END,
    reputation_input_at = CASE WHEN x.reputation_seen THEN @listed_at::timestamptz ELSE l.reputation_input_at END,
    listing_input_at    = @listed_at::timestamptz,
    health_confirmed_at = greatest(l.health_confirmed_at, @listed_at::timestamptz, CASE WHEN x.status_seen THEN x.status_at END),
    updated_at          = @now::timestamptz
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@service_statuses::text[]) AS service_status,
             unnest(@reputations::text[]) AS reputation, unnest(@ineligible::bool[]) AS ineligible,
             unnest(@missing::bool[]) AS missing, unnest(@health_states::text[]) AS health_state,
             unnest(@status_seen::bool[]) AS status_seen, unnest(@status_ats::timestamptz[]) AS status_at,
             unnest(@reputation_seen::bool[]) AS reputation_seen) AS x
JOIN lk ON lk.id = x.id
WHERE l.id = x.id
  AND l.service_status = x.service_status AND l.reputation = x.reputation
  AND (l.ineligible_at IS NOT NULL) = x.ineligible AND (l.linq_missing_at IS NOT NULL) = x.missing
  AND l.health_state = x.health_state
  AND (NOT x.status_seen OR l.status_input_at IS NULL OR l.status_input_at < x.status_at)
  AND (NOT x.reputation_seen OR l.reputation_input_at IS NULL OR l.reputation_input_at < @listed_at::timestamptz)
  AND (l.listing_input_at IS NULL OR l.listing_input_at < @listed_at::timestamptz)
RETURNING l.id;
