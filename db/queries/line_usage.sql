-- name: LineUsageFold :execrows
-- Moves a generation's totals from the windows ending at old_end to those
-- ending at new_end (minute starts, old_end <= new_end): adds the minutes
-- and signups in (old_end, new_end] and takes out those in the same span a
-- day and a week back, which left the windows; with a floor, what is not
-- after it was never added and is not taken out (a rebuild). Only those
-- spans are read (line_volume_minute_idx, users_created_at_idx).
WITH b AS (
    SELECT @generation::bigint AS generation, @old_end::timestamptz AS old_end, @new_end::timestamptz AS new_end,
           coalesce(sqlc.narg(floor)::timestamptz, '-infinity') AS floor
), span AS (
    SELECT b.generation, b.old_end AS in_lo, b.new_end AS in_hi,
           greatest(b.old_end - interval '24 hours', b.floor) AS day_lo, b.new_end - interval '24 hours' AS day_hi,
           greatest(b.old_end - interval '7 days', b.floor) AS week_lo, b.new_end - interval '7 days' AS week_hi
    FROM b
), volume AS (
    SELECT v.line_id,
           sum(v.inbound * (s.entered - s.left_24h)) AS inbound_24h,
           sum(v.outbound * (s.entered - s.left_24h)) AS outbound_24h,
           sum(v.inbound * (s.entered - s.left_7d)) AS inbound_7d,
           sum(v.outbound * (s.entered - s.left_7d)) AS outbound_7d
    FROM span AS p
    JOIN line_volume AS v
      ON (v.minute > p.in_lo AND v.minute <= p.in_hi)
      OR (v.minute > p.day_lo AND v.minute <= p.day_hi)
      OR (v.minute > p.week_lo AND v.minute <= p.week_hi)
    CROSS JOIN LATERAL (SELECT
        (v.minute > p.in_lo AND v.minute <= p.in_hi)::int AS entered,
        (v.minute > p.day_lo AND v.minute <= p.day_hi)::int AS left_24h,
        (v.minute > p.week_lo AND v.minute <= p.week_hi)::int AS left_7d
    ) AS s
    GROUP BY v.line_id
), signups AS (
    SELECT us.home_line_id AS line_id,
           sum(s.entered - s.left_24h) AS signups_24h,
           sum(s.entered - s.left_7d) AS signups_7d
    FROM span AS p
    JOIN users AS us
      ON (us.created_at > p.in_lo AND us.created_at <= p.in_hi)
      OR (us.created_at > p.day_lo AND us.created_at <= p.day_hi)
      OR (us.created_at > p.week_lo AND us.created_at <= p.week_hi)
    CROSS JOIN LATERAL (SELECT
        (us.created_at > p.in_lo AND us.created_at <= p.in_hi)::int AS entered,
        (us.created_at > p.day_lo AND us.created_at <= p.day_hi)::int AS left_24h,
        (us.created_at > p.week_lo AND us.created_at <= p.week_hi)::int AS left_7d
    ) AS s
    GROUP BY us.home_line_id
), delta AS (
    SELECT coalesce(v.line_id, s.line_id) AS line_id, coalesce(v.inbound_24h, 0) AS inbound_24h,
           coalesce(v.outbound_24h, 0) AS outbound_24h, coalesce(v.inbound_7d, 0) AS inbound_7d,
           coalesce(v.outbound_7d, 0) AS outbound_7d, coalesce(s.signups_24h, 0) AS signups_24h,
           coalesce(s.signups_7d, 0) AS signups_7d
    FROM volume AS v
    FULL JOIN signups AS s ON s.line_id = v.line_id
)
INSERT INTO line_usage AS u (generation, line_id, inbound_24h, outbound_24h, inbound_7d, outbound_7d, signups_24h, signups_7d)
SELECT b.generation, d.line_id, d.inbound_24h, d.outbound_24h, d.inbound_7d, d.outbound_7d, d.signups_24h, d.signups_7d
FROM delta AS d
CROSS JOIN b
-- (lines whose rows net out are left alone)
WHERE (d.inbound_24h, d.outbound_24h, d.inbound_7d, d.outbound_7d, d.signups_24h, d.signups_7d) <> (0, 0, 0, 0, 0, 0)
ON CONFLICT (generation, line_id) DO UPDATE
SET inbound_24h = u.inbound_24h + excluded.inbound_24h,
    outbound_24h = u.outbound_24h + excluded.outbound_24h,
    inbound_7d = u.inbound_7d + excluded.inbound_7d,
    outbound_7d = u.outbound_7d + excluded.outbound_7d,
    signups_24h = u.signups_24h + excluded.signups_24h,
    signups_7d = u.signups_7d + excluded.signups_7d;

-- name: LineUsageDiffer :one
-- How many lines' totals differ between two generations (no row: zeros).
SELECT count(*)::bigint AS lines
FROM (SELECT * FROM line_usage WHERE generation = @old_generation::bigint) AS o
FULL JOIN (SELECT * FROM line_usage WHERE generation = @new_generation::bigint) AS n ON n.line_id = o.line_id
WHERE (coalesce(o.inbound_24h, 0), coalesce(o.outbound_24h, 0), coalesce(o.inbound_7d, 0),
       coalesce(o.outbound_7d, 0), coalesce(o.signups_24h, 0), coalesce(o.signups_7d, 0))
   <> (coalesce(n.inbound_24h, 0), coalesce(n.outbound_24h, 0), coalesce(n.inbound_7d, 0),
       coalesce(n.outbound_7d, 0), coalesce(n.signups_24h, 0), coalesce(n.signups_7d, 0));

-- name: LineUsageDrop :execrows
DELETE FROM line_usage WHERE generation = @generation::bigint;

-- name: LineUsageWeek :one
-- The pool's messages over the live totals' 7 days (one row a line, not a
-- week of minute rows), when the job last ran, where the days end, the
-- database clock, and whether the minute records reach back a whole week
-- before the end.
SELECT f.ran_at, f.as_of,
       lg_now()::timestamptz AS now,
       (SELECT coalesce(sum(u.inbound_7d + u.outbound_7d), 0) FROM line_usage AS u
         WHERE u.generation = f.generation)::bigint AS messages,
       -- The oldest minute (the index's first entry): an EXISTS against a
       -- bound the planner cannot see was a scan of every minute row.
       coalesce((SELECT min(v.minute) FROM line_volume AS v) <= f.as_of - interval '7 days', false)::boolean AS covered
FROM line_usage_fold AS f;
