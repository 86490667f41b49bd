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

-- The history so far is summed by the job's first run: a fold end ahead of
-- the clock makes it sum the week at once (its reset, with the same query
-- that folds every minute), and until then the capacity plan and the usage
-- figure sum the minute rows themselves.
INSERT INTO line_usage_fold (generation, as_of) VALUES (1, 'now'::timestamptz + interval '1 day');

-- +goose Down
DROP TABLE line_usage_fold;
DROP TABLE line_usage;
