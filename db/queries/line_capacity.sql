-- name: LineCapacityUse :many
-- Per line, as of line_usage_fold.as_of (a few minutes behind the clock):
-- inbound and outbound messages in the rolling 24 h window the budget counts
-- and in the last 7 days, and the users whose home it is who signed up in
-- the last 24 h and 7 days, from the totals the line_usage job keeps (see
-- line_usage's migration): one row a line, whatever the traffic.
SELECT l.id AS line_id,
       coalesce(u.inbound_24h, 0)::bigint AS inbound_24h,
       coalesce(u.outbound_24h, 0)::bigint AS outbound_24h,
       coalesce(u.inbound_7d, 0)::bigint AS inbound_7d,
       coalesce(u.outbound_7d, 0)::bigint AS outbound_7d,
       coalesce(u.signups_24h, 0)::bigint AS signups_24h,
       coalesce(u.signups_7d, 0)::bigint AS signups_7d,
       (SELECT f.as_of FROM line_usage_fold AS f)::timestamptz AS as_of
FROM lines AS l
-- (a sub-select, which the planner knows is one row)
LEFT JOIN line_usage AS u ON u.generation = (SELECT f.generation FROM line_usage_fold AS f) AND u.line_id = l.id
ORDER BY l.id;

-- name: LineCapacityUseAt :many
-- LineCapacityUse summed from line_volume and users, as of as_of: the
-- minutes that began and the users created in (as_of - 24 h, as_of] and
-- (as_of - 7 days, as_of]; with as_of now, the budget's window as
-- limits_admit sums it (the current minute in, the one 1,440 minutes back
-- out). It reads every minute row of the week: only for when the totals
-- cannot serve.
WITH b AS (
    SELECT @as_of::timestamptz AS as_of
)
SELECT l.id AS line_id,
       coalesce(v.inbound_24h, 0)::bigint AS inbound_24h,
       coalesce(v.outbound_24h, 0)::bigint AS outbound_24h,
       coalesce(v.inbound_7d, 0)::bigint AS inbound_7d,
       coalesce(v.outbound_7d, 0)::bigint AS outbound_7d,
       coalesce(u.signups_24h, 0)::bigint AS signups_24h,
       coalesce(u.signups_7d, 0)::bigint AS signups_7d
FROM lines AS l
LEFT JOIN (
    SELECT lv.line_id,
           sum(lv.inbound) FILTER (WHERE lv.minute > b.as_of - interval '24 hours') AS inbound_24h,
           sum(lv.outbound) FILTER (WHERE lv.minute > b.as_of - interval '24 hours') AS outbound_24h,
           sum(lv.inbound) AS inbound_7d,
           sum(lv.outbound) AS outbound_7d
    FROM line_volume AS lv
    CROSS JOIN b
    WHERE lv.minute > b.as_of - interval '7 days' AND lv.minute <= b.as_of
    GROUP BY lv.line_id
) AS v ON v.line_id = l.id
LEFT JOIN (
    SELECT us.home_line_id AS line_id,
           count(*) FILTER (WHERE us.created_at > b.as_of - interval '24 hours') AS signups_24h,
           count(*) AS signups_7d
    FROM users AS us
    CROSS JOIN b
    WHERE us.created_at > b.as_of - interval '7 days' AND us.created_at <= b.as_of
    GROUP BY us.home_line_id
) AS u ON u.line_id = l.id
ORDER BY l.id;

-- name: LineVolumeSeries :many
-- One line's inbound and outbound messages in buckets of @bucket_seconds
-- over the last @span_seconds on the database clock, every bucket present
-- (empty ones as zero). No rows when the line does not exist.
WITH bounds AS (
    SELECT date_bin(make_interval(0, 0, 0, 0, 0, 0, @bucket_seconds::int),
                    lg_now() - make_interval(0, 0, 0, 0, 0, 0, @span_seconds::int),
                    timestamptz '2000-01-01 00:00:00+00') AS first_start,
           make_interval(0, 0, 0, 0, 0, 0, @bucket_seconds::int) AS step,
           lg_now() AS upto
)
SELECT g.start::timestamptz AS bucket_start,
       coalesce(sum(lv.inbound), 0)::bigint AS inbound,
       coalesce(sum(lv.outbound), 0)::bigint AS outbound
FROM bounds b
CROSS JOIN LATERAL generate_series(b.first_start, b.upto, b.step) AS g (start)
LEFT JOIN line_volume lv
       ON lv.line_id = @line_id::bigint
      AND lv.minute >= g.start
      AND lv.minute < g.start + b.step
WHERE EXISTS (SELECT 1 FROM lines l WHERE l.id = @line_id::bigint)
GROUP BY g.start
ORDER BY g.start;

-- name: LineCapacityNewLine :one
-- What line_policy gives a line the pool would add now (a healthy, active
-- line of Linq's whose warm-up starts now, at the default budget): its
-- effective budget today, for the capacity plan's lines to add now. The
-- line is a record of the lines type with the columns line_policy reads
-- set, not a row of the table.
SELECT p.may_signup::boolean AS may_signup, p.effective_budget::integer AS effective_budget
FROM (SELECT lg_now() AS now) AS c
CROSS JOIN LATERAL line_policy(
    jsonb_populate_record(NULL::lines, jsonb_build_object(
        'admin_state', 'active', 'health_state', 'ok', 'service_status', 'ACTIVE',
        'reputation', 'HEALTHY', 'warmup_started_at', c.now)),
    @settings::jsonb, c.now)
    -- (sqlc needs the column names of a set-returning function spelled out)
    AS p(may_send, may_send_proactive, may_signup, why, signup_why, budget, warmup_factor,
         effective_budget, proactive_budget, pace);
