-- +goose Up
-- Line pool bookkeeping for assignment: lines Linq no longer lists, the
-- per-minute signup counters behind the hourly ramp, the public signup links,
-- and cron leadership.

-- Set by the sync when Linq's list no longer holds the line; such a line takes
-- no new users. Cleared when it shows up again.
ALTER TABLE lines ADD COLUMN linq_missing_at timestamptz;

-- Backup spreading counts a home line's users' backups; this finds them.
CREATE INDEX users_home_line_idx ON users (home_line_id);

-- New users per line per minute. The hourly ramp sums the buckets of the last
-- hour; rows older than two hours are pruned by the line sync job.
CREATE TABLE line_signups (
    line_id bigint      NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    minute  timestamptz NOT NULL,
    n       integer     NOT NULL CHECK (n > 0),
    PRIMARY KEY (line_id, minute)
);

-- Public short links (/s/{token}) of a signup: the token is 128 random bits;
-- body is the prefilled message (prefill text plus the user's code).
CREATE TABLE signup_links (
    token      text        PRIMARY KEY CHECK (length(token) >= 22),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       text        NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signup_links_user_idx ON signup_links (user_id, expires_at DESC);

-- Cron leadership: a job runs on the replica that first claims its tick.
CREATE TABLE job_runs (
    name             text PRIMARY KEY,
    last_started_at  timestamptz NOT NULL,
    last_finished_at timestamptz,
    last_result      text,
    last_error       text
);

-- +goose Down
DROP TABLE job_runs;
DROP TABLE signup_links;
DROP TABLE line_signups;
DROP INDEX users_home_line_idx;
ALTER TABLE lines DROP COLUMN linq_missing_at;
