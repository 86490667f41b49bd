-- name: LineCapacityUse :many
-- Per line, on the database clock: inbound and outbound messages in the
-- rolling 24 h window the budget counts (the minutes after the current one
-- less 1,440, as limits_admit sums them) and in the last 7 days, and the
-- users whose home it is who signed up in the last 24 h and 7 days.
WITH clock AS (
    SELECT date_trunc('minute', lg_now()) AS cur_minute, lg_now() AS cur_now
)
SELECT l.id AS line_id,
       coalesce(v.inbound_24h, 0)::bigint AS inbound_24h,
       coalesce(v.outbound_24h, 0)::bigint AS outbound_24h,
       coalesce(v.inbound_7d, 0)::bigint AS inbound_7d,
       coalesce(v.outbound_7d, 0)::bigint AS outbound_7d,
       coalesce(u.signups_24h, 0)::bigint AS signups_24h,
       coalesce(u.signups_7d, 0)::bigint AS signups_7d
FROM lines l
CROSS JOIN clock c
LEFT JOIN (
    SELECT lv.line_id,
           sum(lv.inbound) FILTER (WHERE lv.minute > c2.cur_minute - interval '1440 minutes') AS inbound_24h,
           sum(lv.outbound) FILTER (WHERE lv.minute > c2.cur_minute - interval '1440 minutes') AS outbound_24h,
           sum(lv.inbound) AS inbound_7d,
           sum(lv.outbound) AS outbound_7d
    FROM line_volume lv
    CROSS JOIN clock c2
    WHERE lv.minute > c2.cur_minute - interval '7 days' AND lv.minute <= c2.cur_minute
    GROUP BY lv.line_id
) v ON v.line_id = l.id
LEFT JOIN (
    SELECT us.home_line_id AS line_id,
           count(*) FILTER (WHERE us.created_at > c3.cur_now - interval '24 hours') AS signups_24h,
           count(*) AS signups_7d
    FROM users us
    CROSS JOIN clock c3
    WHERE us.created_at > c3.cur_now - interval '7 days' AND us.created_at <= c3.cur_now
    GROUP BY us.home_line_id
) u ON u.line_id = l.id
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
