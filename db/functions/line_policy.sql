-- line_policy is the one definition of what a line may do now: whether it
-- may send at all, send proactively, take new users, and with which budget.
-- Send admission (limits_admit) applies it; the line pool (ops listing,
-- capacity, assignment) reads it through LineSnapshot instead of working it
-- out again.
--
-- State: the health job's health_state, and until it has judged a line the
-- raw signals it derives that state from (Linq's service status and
-- reputation, 403/2027 ineligibility, absence from Linq's list), whichever
-- is worse.
--   down, missing     no sends, no signups
--   critical          replies only (proactive sends paused), no signups
--   at_risk           proactive sends paced to at_risk_pace of the budget,
--                     no signups
--   held_at set       no signups
--   draining          sends, no signups; retired: nothing
--
-- Budget: the override or the default, during warm-up times a factor rising
-- linearly from 0.2 to 1 over warmup_ms, floored but never below 1 for a
-- line that has a budget. The proactive budget leaves the reply reserve
-- free (and is paced when at risk).
--
-- s holds the settings as limits.Settings marshals them: budget,
-- warmup_ms, reserve, at_risk_pace.
--
-- A set-returning SQL function (one row), so that the planner inlines it
-- into the query that joins it LATERAL: no function call per line. Were it
-- a plain SQL function returning one record it would be planned on every
-- call; in PL/pgSQL each call runs a statement of its own.
--
-- Its steps (the state, then the budget and pace) are subqueries fenced
-- with OFFSET 0, so that each is worked out once. Pulled up into the query,
-- every reference to a step's column would be a copy of the step's whole
-- expression (the state's CASE in a dozen places), and a plan's expressions
-- are compiled on every execution: the fences took limits_admit for one
-- send from about 330 to 290 microseconds.
CREATE OR REPLACE FUNCTION line_policy(
    l     lines,
    s     jsonb,
    p_now timestamptz,
    OUT may_send           boolean,
    OUT may_send_proactive boolean,
    OUT may_signup         boolean,
    OUT why                text,
    OUT signup_why         text,
    OUT budget             integer,
    OUT warmup_factor      double precision,
    OUT effective_budget   integer,
    OUT proactive_budget   integer,
    OUT pace               double precision
) RETURNS SETOF record LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT
    l.admin_state <> 'retired' AND b.state NOT IN ('down', 'missing'),
    l.admin_state <> 'retired' AND b.state IN ('ok', 'at_risk') AND b.pace > 0,
    l.admin_state = 'active' AND b.state = 'ok' AND l.held_at IS NULL,
    CASE
        WHEN l.admin_state = 'retired' THEN 'retired'
        WHEN b.state = 'down' THEN 'line_down'
        WHEN b.state = 'missing' THEN 'line_missing'
        WHEN b.state = 'critical' THEN 'line_paused'
        WHEN b.state = 'at_risk' THEN 'line_paced'
        ELSE ''
    END,
    CASE
        WHEN l.admin_state = 'retired' THEN 'retired'
        WHEN l.admin_state = 'draining' THEN 'draining'
        WHEN l.health_state = 'down' THEN 'line_down'
        WHEN l.health_state = 'missing' THEN 'line_missing'
        WHEN l.service_status <> 'ACTIVE' THEN 'flagged'
        WHEN l.ineligible_at IS NOT NULL THEN 'ineligible'
        WHEN l.linq_missing_at IS NOT NULL THEN 'missing_from_linq'
        WHEN l.health_state = 'critical' THEN 'line_critical'
        WHEN l.reputation = 'CRITICAL' THEN 'reputation_critical'
        WHEN l.health_state = 'at_risk' THEN 'line_at_risk'
        WHEN l.reputation <> 'HEALTHY' THEN 'reputation_at_risk'
        WHEN l.held_at IS NOT NULL THEN 'line_held'
        ELSE ''
    END,
    b.base,
    b.factor,
    b.eff,
    CASE
        WHEN b.pace <= 0 OR b.eff = 0 THEN 0
        ELSE greatest(floor((b.eff - floor(b.eff * (s ->> 'reserve')::numeric)) * b.pace::numeric)::integer, 1)
    END,
    b.pace
FROM (
    SELECT st.*,
           CASE WHEN st.base > 0 THEN greatest(floor(st.base * st.factor + 1e-9)::integer, 1) ELSE 0 END AS eff,
           CASE st.state WHEN 'at_risk' THEN (s ->> 'at_risk_pace')::double precision
                         WHEN 'ok' THEN 1 ELSE 0 END AS pace
      FROM (
        SELECT CASE
                   WHEN l.health_state IN ('down', 'missing') THEN l.health_state
                   WHEN l.service_status <> 'ACTIVE' OR l.ineligible_at IS NOT NULL THEN 'down'
                   WHEN l.linq_missing_at IS NOT NULL THEN 'missing'
                   WHEN l.health_state = 'critical' OR l.reputation = 'CRITICAL' THEN 'critical'
                   WHEN l.health_state = 'at_risk' OR l.reputation <> 'HEALTHY' THEN 'at_risk'
                   ELSE 'ok'
               END AS state,
               coalesce(l.budget_override, (s ->> 'budget')::integer) AS base,
               CASE
                   WHEN (s ->> 'warmup_ms')::bigint > 0
                        AND p_now < l.warmup_started_at + (s ->> 'warmup_ms')::bigint * interval '1 millisecond'
                   THEN 0.2 + 0.8 * greatest(extract(epoch FROM p_now - l.warmup_started_at), 0)
                                  / ((s ->> 'warmup_ms')::bigint / 1000.0)
                   ELSE 1
               END::double precision AS factor
        OFFSET 0
      ) AS st
    OFFSET 0
) AS b
$$;
