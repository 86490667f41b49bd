-- name: LinePoolLock :exec
-- Serialises every change of who is on which line, across replicas, until
-- the transaction ends.
SELECT pg_advisory_xact_lock(@key::bigint);

-- name: LinePoolLockShared :exec
-- Signups hold the pool lock shared: they exclude every other change of
-- lines and users' lines, not each other (they lock the lines they write).
SELECT pg_advisory_xact_lock_shared(@key::bigint);

-- name: LineSnapshot :many
-- Every line with its policy (line_policy: what it may do now and its
-- budget), its signups in the ramp window (buckets from window_start on)
-- and the oldest such bucket. line_policy runs once per class of lines that
-- give it the same inputs, on one reading of the clock: the columns it
-- reads (admin and health state, Linq's status and reputation, whether the
-- line is ineligible, missing or held, the budget override, and the warm-up
-- start while warm-up lasts). A pool has a handful of classes, so the
-- policy costs the same for 20 lines as for 10,000. Keep the class key in
-- step with the columns line_policy reads.
WITH clock AS MATERIALIZED (
    SELECT n.now, n.now - (@settings::jsonb ->> 'warmup_ms')::bigint * interval '1 millisecond' AS warm_from
    FROM (SELECT lg_now() AS now) AS n
), sel AS MATERIALIZED (
    SELECT l.id, l.number, l.linq_id, l.ineligible_at, l.budget_override, l.warmup_started_at, l.user_count,
           l.last_assigned_at, l.linq_missing_at, l.status_changed_at, l.synced_at, l.held_at,
           l.health_since, l.health_cause, l.health_confirmed_at, l.recovery_at,
           l.admin_state, l.health_state, l.service_status, l.reputation,
           -- The class: every input of line_policy but the clock (the
           -- states are words without '|').
           concat_ws('|', l.admin_state, l.health_state, l.service_status, l.reputation,
                     l.ineligible_at IS NULL, l.linq_missing_at IS NULL, l.held_at IS NULL,
                     coalesce(l.budget_override, 0),
                     CASE WHEN l.warmup_started_at > c.warm_from THEN l.warmup_started_at END) COLLATE "C" AS class
    FROM lines l CROSS JOIN clock c
), class AS (
    SELECT k.class, min(k.id) AS rep_id FROM sel k GROUP BY k.class
), policy AS MATERIALIZED (
    SELECT cl.class, p.may_send, p.may_send_proactive, p.may_signup, p.why, p.signup_why, p.budget, p.warmup_factor,
           p.effective_budget, p.proactive_budget
    FROM class cl
    JOIN lines r ON r.id = cl.rep_id
    CROSS JOIN clock c
    CROSS JOIN LATERAL line_policy(r, @settings::jsonb, c.now)
        -- (sqlc needs the column names of a set-returning function spelled out)
        AS p(may_send, may_send_proactive, may_signup, why, signup_why, budget, warmup_factor,
             effective_budget, proactive_budget, pace)
)
SELECT k.id, k.number, k.linq_id, k.reputation, k.service_status, k.ineligible_at, k.admin_state,
       k.budget_override, k.warmup_started_at, k.user_count, k.last_assigned_at, k.linq_missing_at,
       k.status_changed_at, k.synced_at, k.health_state, k.held_at,
       k.health_since, k.health_cause, k.health_confirmed_at, k.recovery_at,
       p.may_send::boolean AS may_send, p.may_send_proactive::boolean AS may_send_proactive,
       p.may_signup::boolean AS may_signup, p.why::text AS send_why, p.signup_why::text AS signup_why,
       p.budget::int AS budget, p.warmup_factor::float8 AS warmup_factor,
       p.effective_budget::int AS effective_budget, p.proactive_budget::int AS proactive_budget,
       coalesce(s.n, 0)::int AS signups_in_window,
       coalesce(s.oldest, @window_start::timestamptz)::timestamptz AS oldest_signup_minute
FROM sel k
JOIN policy p ON p.class = k.class
LEFT JOIN (
    SELECT ls.line_id, sum(ls.n) AS n, min(ls.minute) AS oldest
    FROM line_signups ls
    WHERE ls.minute >= @window_start::timestamptz
    GROUP BY ls.line_id
) s ON s.line_id = k.id
ORDER BY k.id;

-- name: LineSnapshotIDs :many
-- LineSnapshot for the lines of @ids. A query of its own: one query with an
-- optional id filter planned both cases worse at 10,000 lines (the whole
-- pool 2-6x slower, 20 lines 4x slower).
WITH clock AS MATERIALIZED (
    SELECT n.now, n.now - (@settings::jsonb ->> 'warmup_ms')::bigint * interval '1 millisecond' AS warm_from
    FROM (SELECT lg_now() AS now) AS n
), sel AS MATERIALIZED (
    SELECT l.id, l.number, l.linq_id, l.ineligible_at, l.budget_override, l.warmup_started_at, l.user_count,
           l.last_assigned_at, l.linq_missing_at, l.status_changed_at, l.synced_at, l.held_at,
           l.health_since, l.health_cause, l.health_confirmed_at, l.recovery_at,
           l.admin_state, l.health_state, l.service_status, l.reputation,
           -- The class: every input of line_policy but the clock (the
           -- states are words without '|').
           concat_ws('|', l.admin_state, l.health_state, l.service_status, l.reputation,
                     l.ineligible_at IS NULL, l.linq_missing_at IS NULL, l.held_at IS NULL,
                     coalesce(l.budget_override, 0),
                     CASE WHEN l.warmup_started_at > c.warm_from THEN l.warmup_started_at END) COLLATE "C" AS class
    FROM lines l CROSS JOIN clock c
    WHERE l.id = ANY(@ids::bigint[])
), class AS (
    SELECT k.class, min(k.id) AS rep_id FROM sel k GROUP BY k.class
), policy AS MATERIALIZED (
    SELECT cl.class, p.may_send, p.may_send_proactive, p.may_signup, p.why, p.signup_why, p.budget, p.warmup_factor,
           p.effective_budget, p.proactive_budget
    FROM class cl
    JOIN lines r ON r.id = cl.rep_id
    CROSS JOIN clock c
    CROSS JOIN LATERAL line_policy(r, @settings::jsonb, c.now)
        -- (sqlc needs the column names of a set-returning function spelled out)
        AS p(may_send, may_send_proactive, may_signup, why, signup_why, budget, warmup_factor,
             effective_budget, proactive_budget, pace)
)
SELECT k.id, k.number, k.linq_id, k.reputation, k.service_status, k.ineligible_at, k.admin_state,
       k.budget_override, k.warmup_started_at, k.user_count, k.last_assigned_at, k.linq_missing_at,
       k.status_changed_at, k.synced_at, k.health_state, k.held_at,
       k.health_since, k.health_cause, k.health_confirmed_at, k.recovery_at,
       p.may_send::boolean AS may_send, p.may_send_proactive::boolean AS may_send_proactive,
       p.may_signup::boolean AS may_signup, p.why::text AS send_why, p.signup_why::text AS signup_why,
       p.budget::int AS budget, p.warmup_factor::float8 AS warmup_factor,
       p.effective_budget::int AS effective_budget, p.proactive_budget::int AS proactive_budget,
       coalesce(s.n, 0)::int AS signups_in_window,
       coalesce(s.oldest, @window_start::timestamptz)::timestamptz AS oldest_signup_minute
FROM sel k
JOIN policy p ON p.class = k.class
-- One read of the lines' buckets, not one per line: a plan cached while
-- line_signups looked empty (a new pool, stale statistics) scanned the
-- whole table once per line, 10x slower at 10,000 lines.
LEFT JOIN (
    SELECT ls.line_id, sum(ls.n) AS n, min(ls.minute) AS oldest
    FROM line_signups ls
    WHERE ls.line_id = ANY(@ids::bigint[]) AND ls.minute >= @window_start::timestamptz
    GROUP BY ls.line_id
) s ON s.line_id = k.id
ORDER BY k.id;

-- name: LineRankSignup :many
-- The lines the next @n signups can go to, as ids (see router/doc.go): in
-- each class of lines with one user cap (one budget override, warm-up
-- over), the first @n under the hourly ramp in signup order (fewest users,
-- least recently assigned, lowest id), read off lines_signup_rank_idx; and
-- every line still warming up (its cap is its own). The classes come from
-- a skip scan of the same index. The state condition is the index's
-- predicate (line_policy's signup verdict on the row); callers still apply
-- line_policy to the lines read.
WITH RECURSIVE clock AS MATERIALIZED (
    SELECT n.now - (@settings::jsonb ->> 'warmup_ms')::bigint * interval '1 millisecond' AS warm_from
    FROM (SELECT lg_now() AS now) AS n
), classes AS (
    (SELECT coalesce(l.budget_override, 0) AS base
     FROM lines l
     WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
     ORDER BY coalesce(l.budget_override, 0), l.user_count, l.last_assigned_at NULLS FIRST, l.id
     LIMIT 1)
    UNION ALL
    SELECT (SELECT coalesce(l.budget_override, 0)
            FROM lines l
            WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
              AND coalesce(l.budget_override, 0) > c.base
            ORDER BY coalesce(l.budget_override, 0), l.user_count, l.last_assigned_at NULLS FIRST, l.id
            LIMIT 1)
    FROM classes c
    WHERE c.base IS NOT NULL
)
SELECT r.id
FROM classes c
CROSS JOIN clock k
CROSS JOIN LATERAL (
    SELECT l.id
    FROM lines l
    WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
      AND coalesce(l.budget_override, 0) = c.base
      AND l.warmup_started_at <= k.warm_from
      AND (SELECT coalesce(sum(ls.n), 0) FROM line_signups ls
           WHERE ls.line_id = l.id AND ls.minute >= @window_start::timestamptz) < @ramp_limit::int
    ORDER BY coalesce(l.budget_override, 0), l.user_count, l.last_assigned_at NULLS FIRST, l.id
    LIMIT @n::int
) r
WHERE c.base IS NOT NULL
UNION
SELECT l.id
FROM lines l
CROSS JOIN clock k
WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
  AND l.warmup_started_at > k.warm_from;

-- name: LineRankBackup :many
-- The lines new backups can come from, as ids: in each class of lines with
-- one user cap, the first @n in backup order (fewest users, lowest id),
-- read off lines_backup_rank_idx, and every line still warming up. edge
-- marks the @n-th line of a class, with its users as this statement read
-- them: the lines of the class not read rank after it.
WITH RECURSIVE clock AS MATERIALIZED (
    SELECT n.now - (@settings::jsonb ->> 'warmup_ms')::bigint * interval '1 millisecond' AS warm_from
    FROM (SELECT lg_now() AS now) AS n
), classes AS (
    (SELECT coalesce(l.budget_override, 0) AS base
     FROM lines l
     WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
     ORDER BY coalesce(l.budget_override, 0), l.user_count, l.id
     LIMIT 1)
    UNION ALL
    SELECT (SELECT coalesce(l.budget_override, 0)
            FROM lines l
            WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
              AND coalesce(l.budget_override, 0) > c.base
            ORDER BY coalesce(l.budget_override, 0), l.user_count, l.id
            LIMIT 1)
    FROM classes c
    WHERE c.base IS NOT NULL
)
SELECT r.id, (r.rn = @n::int)::boolean AS edge, r.user_count
FROM classes c
CROSS JOIN clock k
CROSS JOIN LATERAL (
    SELECT l.id, l.user_count, row_number() OVER (ORDER BY coalesce(l.budget_override, 0), l.user_count, l.id) AS rn
    FROM lines l
    WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
      AND coalesce(l.budget_override, 0) = c.base
      AND l.warmup_started_at <= k.warm_from
    ORDER BY coalesce(l.budget_override, 0), l.user_count, l.id
    LIMIT @n::int
) r
WHERE c.base IS NOT NULL
UNION ALL
SELECT l.id, false, l.user_count
FROM lines l
CROSS JOIN clock k
WHERE l.admin_state = 'active' AND l.health_state = 'ok' AND l.service_status = 'ACTIVE'
      AND l.ineligible_at IS NULL AND l.linq_missing_at IS NULL AND l.reputation = 'HEALTHY' AND l.held_at IS NULL
  AND l.warmup_started_at > k.warm_from;

-- name: LineExists :one
-- Whether the pool holds any line: a restarted replica that knows its
-- pool need not wait for Linq before it serves.
SELECT EXISTS (SELECT 1 FROM lines)::boolean AS exists;

-- name: LineLastAssignedMax :one
-- The latest assignment time of any line (the epoch when none).
SELECT coalesce(max(last_assigned_at), 'epoch')::timestamptz AS last_assigned_at FROM lines;

-- name: LineLockForSignup :many
-- Locks the lines a signup batch writes, in id order, and reads what the
-- batch planned with: the user count and last assignment, and the columns
-- line_policy's signup verdict reads that may change under the shared pool
-- lock (a health change that moves nobody takes only the row). NO KEY: the
-- key-share locks of foreign keys (a concurrent batch's user_lines rows
-- naming the line as a backup) do not wait on it.
SELECT id, user_count, last_assigned_at, admin_state, health_state, service_status, reputation,
       (ineligible_at IS NOT NULL)::bool AS ineligible, (linq_missing_at IS NOT NULL)::bool AS missing,
       (held_at IS NOT NULL)::bool AS held
FROM lines
WHERE id = ANY(@ids::bigint[])
ORDER BY id
FOR NO KEY UPDATE;

-- name: LineUpsertFromLinq :many
-- Linq's listing, asked for at @listed_at: new lines, Linq ids, and each
-- listed line's reputation and listing, as the health poll orders them
-- (per signal): each only when the listing is newer than the input that
-- set it, so a reputation webhook applied while the listing was on its way
-- is not undone by it. The health poll derives the line's health state
-- from them.
INSERT INTO lines (number, linq_id, reputation, reputation_input_at, listing_input_at, warmup_started_at, synced_at,
                   status_changed_at, created_at, updated_at)
SELECT t.number, t.linq_id, t.reputation, @listed_at::timestamptz, @listed_at::timestamptz,
       @now::timestamptz, @now::timestamptz, @now::timestamptz, @now::timestamptz, @now::timestamptz
FROM (SELECT unnest(@numbers::text[]) AS number, unnest(@linq_ids::text[]) AS linq_id, unnest(@reputations::text[]) AS reputation) AS t
ON CONFLICT (number) DO UPDATE SET
    linq_id             = excluded.linq_id,
    reputation          = CASE WHEN lines.reputation_input_at IS NULL OR lines.reputation_input_at < excluded.reputation_input_at
                               THEN excluded.reputation ELSE lines.reputation END,
    reputation_input_at = greatest(lines.reputation_input_at, excluded.reputation_input_at),
    linq_missing_at     = CASE WHEN lines.listing_input_at IS NULL OR lines.listing_input_at < excluded.listing_input_at
                               THEN NULL ELSE lines.linq_missing_at END,
    listing_input_at    = greatest(lines.listing_input_at, excluded.listing_input_at),
    synced_at           = excluded.synced_at,
    status_changed_at   = CASE WHEN (lines.reputation_input_at IS NULL OR lines.reputation_input_at < excluded.reputation_input_at)
                                    AND lines.reputation <> excluded.reputation
                               THEN excluded.synced_at ELSE lines.status_changed_at END,
    updated_at          = CASE WHEN ((lines.reputation_input_at IS NULL OR lines.reputation_input_at < excluded.reputation_input_at)
                                     AND lines.reputation <> excluded.reputation)
                                    OR ((lines.listing_input_at IS NULL OR lines.listing_input_at < excluded.listing_input_at)
                                        AND lines.linq_missing_at IS NOT NULL)
                                    OR lines.linq_id IS DISTINCT FROM excluded.linq_id
                               THEN excluded.synced_at ELSE lines.updated_at END
RETURNING id, number, (xmax = 0)::bool AS inserted;

-- name: LineMarkMissing :many
-- Lines the listing asked for at @listed_at does not hold, unless a newer
-- listing was applied meanwhile.
UPDATE lines SET linq_missing_at = @now::timestamptz, listing_input_at = @listed_at::timestamptz, updated_at = @now::timestamptz
WHERE linq_missing_at IS NULL AND NOT (number = ANY(@numbers::text[]))
  AND (listing_input_at IS NULL OR listing_input_at < @listed_at::timestamptz)
RETURNING id, number;

-- name: LineUpdateAdmin :one
UPDATE lines SET
    admin_state     = coalesce(sqlc.narg(admin_state)::text, admin_state),
    budget_override = CASE WHEN @set_budget::bool THEN sqlc.narg(budget_override)::int ELSE budget_override END,
    updated_at      = @now::timestamptz
WHERE id = @id
RETURNING id;

-- name: LineBumpCounts :exec
-- Applies user-count deltas after users moved between lines. Its callers
-- hold the pool lock exclusively, so no other move or signup locks lines
-- meanwhile; the rows are locked by id. That order alone does not keep it
-- from deadlocking: the caller may already hold one of them (a failover
-- its failing line's, a retire the retired line's). What does is that
-- nobody else holds a lines row while waiting for another: line health's
-- inputs lock only their line's row without the pool lock, and the poll's
-- LineHealthConfirmMany skips the rows it finds locked.
WITH lk AS MATERIALIZED (
    SELECT lo.id FROM lines AS lo WHERE lo.id = ANY (@line_ids::bigint[]) ORDER BY lo.id FOR NO KEY UPDATE
)
UPDATE lines l SET user_count = l.user_count + d.delta, updated_at = @now::timestamptz
FROM (SELECT unnest(@line_ids::bigint[]) AS line_id, unnest(@deltas::int[]) AS delta) AS d
JOIN lk ON lk.id = d.line_id
WHERE l.id = d.line_id;

-- name: LineVolumeWindow :one
-- Traffic of the whole pool since @since, and whether the records reach back
-- to @covered_before (so a window is fully covered).
SELECT
    (SELECT coalesce(sum(v.inbound + v.outbound), 0) FROM line_volume v WHERE v.minute >= @since::timestamptz)::bigint AS messages,
    EXISTS (SELECT 1 FROM line_volume v WHERE v.minute <= @covered_before::timestamptz) AS covered;

-- name: LineUserDays :one
-- The users on lines, and the days they existed in (@since, @until]: each
-- counts the whole window less the part of it before they were created. Only
-- the users created after @since are read (users_created_at_idx), so a steady
-- pool of a million users costs a week of signups, not a million rows.
-- Deleted users are gone from both.
WITH b AS (
    SELECT @since::timestamptz AS since, @until::timestamptz AS until
)
SELECT n.users,
       (greatest(n.users * extract(epoch FROM b.until - b.since)
           - coalesce((SELECT sum(extract(epoch FROM least(u.created_at, b.until) - b.since))
                       FROM users AS u WHERE u.created_at > b.since), 0), 0) / 86400)::float8 AS user_days
FROM b, (SELECT coalesce(sum(l.user_count), 0)::bigint AS users FROM lines AS l) AS n;

-- name: LineSignupsPrune :execrows
DELETE FROM line_signups WHERE minute < @before::timestamptz;

-- name: LineNumbersAmong :many
-- The pool's own numbers among @numbers: no user's handle may be one.
SELECT number FROM lines WHERE number = ANY(@numbers::text[]);
