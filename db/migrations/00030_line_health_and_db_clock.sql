-- +goose Up
-- Line health as the health job reports it; the send and signup policy
-- (db/functions/line_policy.sql) reads it. A flapping line is held
-- (held_at) out of signups and recovery until ops re-activate it.
ALTER TABLE lines
    ADD COLUMN health_state text NOT NULL DEFAULT 'ok'
        CHECK (health_state IN ('ok', 'at_risk', 'critical', 'down', 'missing')),
    ADD COLUMN health_since timestamptz,
    ADD COLUMN health_cause text,
    ADD COLUMN held_at      timestamptz;

-- The database clock decides every cross-replica question (pair window,
-- budget minute, send lease, takeover): lg_now() reads clock_timestamp().
-- This table is its one test seam: always empty in production; a test puts
-- one row in it to drive the clock of every connection at once.
CREATE TABLE clock_override (
    only_row boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    at       timestamptz NOT NULL
);

-- A duplicate request waiting for a send in flight sets awaited, so that the
-- send's completion notifies it (and only then: NOTIFY serialises commits).
ALTER TABLE messages ADD COLUMN awaited boolean NOT NULL DEFAULT false;

-- The recovery job finds pending sends whose lease ran out.
CREATE INDEX messages_pending_lease_idx ON messages (lease_until) WHERE state = 'pending';

-- The send path's functions now live in db/functions (one file each,
-- applied with CREATE OR REPLACE after every migrate up).
DROP FUNCTION send_admit;
DROP FUNCTION rl_admit;
DROP FUNCTION line_can_send;

-- +goose Down
-- The migrator drops the db/functions set before any down step. The
-- functions 00023 and 00024 created are not re-created here (their
-- definitions are those files' history); placeholders let their own down
-- steps run.
CREATE FUNCTION line_can_send(l lines) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
CREATE FUNCTION rl_admit() RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION send_admit() RETURNS void LANGUAGE sql AS $$ SELECT $$;
DROP INDEX messages_pending_lease_idx;
ALTER TABLE messages DROP COLUMN awaited;
DROP TABLE clock_override;
ALTER TABLE lines
    DROP COLUMN held_at,
    DROP COLUMN health_cause,
    DROP COLUMN health_since,
    DROP COLUMN health_state;
