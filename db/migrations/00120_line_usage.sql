-- +goose Up
-- Each line's traffic and signups over the last 24 hours and 7 days, for the
-- capacity plan: it reads one row a line instead of summing up to 10,080
-- line_volume minute rows and a week of users a line. The line_usage job
-- (lines.Rollup) keeps the rows, off the send path: each run moves the
-- windows forward to minutes that closed a little while ago, adding the
-- minutes and signups that entered them and taking out those that left, and
-- sums the week again, an hour of it a run, into the next generation, which
-- replaces the live one when it has caught up (see lines.Rollup).
--
-- With T = line_usage_fold.as_of (a minute start), a line's row of the live
-- generation holds its line_volume minutes that began in (T - 24 hours, T]
-- (the budget's window as limits_admit sums it during minute T) and in
-- (T - 7 days, T], and the users whose home it is created in
-- (T - 24 hours, T] and (T - 7 days, T]. A line without a row has none.
CREATE TABLE line_usage (
    generation   bigint NOT NULL,
    line_id      bigint NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    inbound_24h  bigint NOT NULL DEFAULT 0,
    outbound_24h bigint NOT NULL DEFAULT 0,
    inbound_7d   bigint NOT NULL DEFAULT 0,
    outbound_7d  bigint NOT NULL DEFAULT 0,
    signups_24h  bigint NOT NULL DEFAULT 0,
    signups_7d   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (generation, line_id)
);

-- The fold's one row: the live generation and where its windows end; the
-- rebuild in progress (generation + 1), if any: the minute it started from
-- (what is older does not count in it) and where its windows end.
CREATE TABLE line_usage_fold (
    only_row      boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    generation    bigint      NOT NULL,
    as_of         timestamptz NOT NULL,
    rebuild_floor timestamptz,
    rebuild_as_of timestamptz,
    -- When the job last ran (NULL: not yet): readers that need the totals
    -- current (the usage figure) check it.
    ran_at        timestamptz,
    CHECK ((rebuild_floor IS NULL) = (rebuild_as_of IS NULL))
);

-- The history so far, summed once, as of the last minute that closed two
-- minutes ago (the job's lag); the job carries it on from there. The clock
-- is lg_now()'s (db/functions is applied after the migrations).
INSERT INTO line_usage_fold (generation, as_of)
SELECT 1, date_trunc('minute', coalesce((SELECT o.at FROM clock_override AS o), clock_timestamp()) - interval '3 minutes');

-- One pass over the week by minute (the rows lie in minute order), not a
-- line at a time.
INSERT INTO line_usage (generation, line_id, inbound_24h, outbound_24h, inbound_7d, outbound_7d, signups_24h, signups_7d)
SELECT f.generation, l.id, coalesce(v.inbound_24h, 0), coalesce(v.outbound_24h, 0), coalesce(v.inbound_7d, 0),
       coalesce(v.outbound_7d, 0), coalesce(s.signups_24h, 0), coalesce(s.signups_7d, 0)
FROM lines AS l
CROSS JOIN line_usage_fold AS f
LEFT JOIN (
    SELECT lv.line_id,
           sum(lv.inbound) FILTER (WHERE lv.minute > f.as_of - interval '24 hours') AS inbound_24h,
           sum(lv.outbound) FILTER (WHERE lv.minute > f.as_of - interval '24 hours') AS outbound_24h,
           sum(lv.inbound) AS inbound_7d,
           sum(lv.outbound) AS outbound_7d
    FROM line_volume AS lv
    CROSS JOIN line_usage_fold AS f
    WHERE lv.minute > f.as_of - interval '7 days' AND lv.minute <= f.as_of
    GROUP BY lv.line_id
) AS v ON v.line_id = l.id
LEFT JOIN (
    SELECT us.home_line_id AS line_id,
           count(*) FILTER (WHERE us.created_at > f.as_of - interval '24 hours') AS signups_24h,
           count(*) AS signups_7d
    FROM users AS us
    CROSS JOIN line_usage_fold AS f
    WHERE us.created_at > f.as_of - interval '7 days' AND us.created_at <= f.as_of
    GROUP BY us.home_line_id
) AS s ON s.line_id = l.id;

-- +goose Down
DROP TABLE line_usage_fold;
DROP TABLE line_usage;
