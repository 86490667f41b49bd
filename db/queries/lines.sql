-- name: LinePoolLock :exec
-- Serialises every change of who is on which line, across replicas, until
-- the transaction ends.
SELECT pg_advisory_xact_lock(@key::bigint);

-- name: LineSnapshot :many
-- Every line with its policy (line_policy: what it may do now and its
-- budget), its signups in the ramp window (buckets from window_start on)
-- and the oldest such bucket.
SELECT l.id, l.number, l.linq_id, l.reputation, l.service_status, l.ineligible_at, l.admin_state,
       l.budget_override, l.warmup_started_at, l.user_count, l.last_assigned_at, l.linq_missing_at,
       l.status_changed_at, l.synced_at, l.health_state, l.held_at,
       p.may_send::boolean AS may_send, p.may_send_proactive::boolean AS may_send_proactive,
       p.may_signup::boolean AS may_signup, p.why::text AS send_why, p.signup_why::text AS signup_why,
       p.budget::int AS budget, p.warmup_factor::float8 AS warmup_factor,
       p.effective_budget::int AS effective_budget, p.proactive_budget::int AS proactive_budget,
       coalesce(s.n, 0)::int AS signups_in_window,
       coalesce(s.oldest, @window_start::timestamptz)::timestamptz AS oldest_signup_minute
FROM lines l
CROSS JOIN LATERAL line_policy(l, @settings::jsonb, lg_now()) AS p
LEFT JOIN (
    SELECT ls.line_id, sum(ls.n) AS n, min(ls.minute) AS oldest
    FROM line_signups ls
    WHERE ls.minute >= @window_start::timestamptz
    GROUP BY ls.line_id
) s ON s.line_id = l.id
ORDER BY l.id;

-- name: LineUpsertFromLinq :many
INSERT INTO lines (number, linq_id, reputation, warmup_started_at, synced_at, status_changed_at, created_at, updated_at)
SELECT t.number, t.linq_id, t.reputation, @now::timestamptz, @now::timestamptz, @now::timestamptz, @now::timestamptz, @now::timestamptz
FROM (SELECT unnest(@numbers::text[]) AS number, unnest(@linq_ids::text[]) AS linq_id, unnest(@reputations::text[]) AS reputation) AS t
ON CONFLICT (number) DO UPDATE SET
    linq_id           = excluded.linq_id,
    reputation        = excluded.reputation,
    synced_at         = excluded.synced_at,
    linq_missing_at   = NULL,
    status_changed_at = CASE WHEN lines.reputation <> excluded.reputation THEN excluded.synced_at ELSE lines.status_changed_at END,
    updated_at        = CASE WHEN lines.reputation <> excluded.reputation OR lines.linq_missing_at IS NOT NULL
                              OR lines.linq_id IS DISTINCT FROM excluded.linq_id
                             THEN excluded.synced_at ELSE lines.updated_at END
RETURNING id, number, (xmax = 0)::bool AS inserted;

-- name: LineMarkMissing :many
UPDATE lines SET linq_missing_at = @now::timestamptz, updated_at = @now::timestamptz
WHERE linq_missing_at IS NULL AND NOT (number = ANY(@numbers::text[]))
RETURNING id, number;

-- name: LineUpdateAdmin :one
UPDATE lines SET
    admin_state     = coalesce(sqlc.narg(admin_state)::text, admin_state),
    budget_override = CASE WHEN @set_budget::bool THEN sqlc.narg(budget_override)::int ELSE budget_override END,
    updated_at      = @now::timestamptz
WHERE id = @id
RETURNING id;

-- name: LineBumpCounts :exec
-- Applies user-count deltas after users moved between lines.
UPDATE lines l SET user_count = l.user_count + d.delta, updated_at = @now::timestamptz
FROM (SELECT unnest(@line_ids::bigint[]) AS line_id, unnest(@deltas::int[]) AS delta) AS d
WHERE l.id = d.line_id;

-- name: LineVolumeWindow :one
-- Traffic of the whole pool since @since, whether the records reach back to
-- @covered_before (so a window is fully covered), and the users on lines.
SELECT
    (SELECT coalesce(sum(v.inbound + v.outbound), 0) FROM line_volume v WHERE v.minute >= @since::timestamptz)::bigint AS messages,
    EXISTS (SELECT 1 FROM line_volume v WHERE v.minute <= @covered_before::timestamptz) AS covered,
    (SELECT coalesce(sum(l.user_count), 0) FROM lines l)::bigint AS users;

-- name: LineSignupsPrune :execrows
DELETE FROM line_signups WHERE minute < @before::timestamptz;
