-- +goose Up
-- Line health bookkeeping: the ordering and freshness of the inputs that set a
-- line's health state, its transition history, failovers with the moves they
-- made, and the Linq contact card of each line.

-- health_input_at: time of the newest input applied (an older one changes
-- nothing). health_confirmed_at: when a source last confirmed the line's
-- status (ops show "stale" when it is too old). recovery_at: from when the
-- line's users may come back (ok since + dwell, or now when ops say so).
ALTER TABLE lines
    ADD COLUMN health_input_at     timestamptz,
    ADD COLUMN health_confirmed_at timestamptz,
    ADD COLUMN recovery_at         timestamptz;

-- Every transition of a line's health state, with the input that caused it.
CREATE TABLE line_health_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id        bigint      NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    from_state     text        NOT NULL,
    to_state       text        NOT NULL,
    source         text        NOT NULL,
    cause          text        NOT NULL,
    event_id       text,
    observed_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX line_health_history_line_idx ON line_health_history (line_id, observed_at);
CREATE INDEX line_health_history_created_idx ON line_health_history (created_at DESC);

-- One failover of a line's users (automatic or ordered by ops).
CREATE TABLE failovers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id     bigint      NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    reason      text        NOT NULL CHECK (reason IN ('failover', 'ops')),
    cause       text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    users_moved integer     NOT NULL DEFAULT 0,
    stranded    integer     NOT NULL DEFAULT 0
);
CREATE INDEX failovers_started_idx ON failovers (started_at DESC, id DESC);
CREATE INDEX failovers_line_idx ON failovers (line_id, started_at);

-- The users a failover considered: to_line_id is where each went, NULL when
-- the pool could not take them (stranded). via says which rule placed them:
-- 'backup' (their own line set) or 'pool' (any healthy line with room).
CREATE TABLE failover_moves (
    failover_id  bigint NOT NULL REFERENCES failovers (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    from_line_id bigint NOT NULL,
    to_line_id   bigint,
    via          text CHECK (via IN ('backup', 'pool')),
    PRIMARY KEY (failover_id, user_id)
);

-- The Linq contact card of each line as Linegate last set it.
CREATE TABLE line_contact_cards (
    line_id    bigint      PRIMARY KEY REFERENCES lines (id) ON DELETE CASCADE,
    first_name text        NOT NULL,
    synced_at  timestamptz NOT NULL
);

-- When the line's contact card was last shared into a chat.
CREATE TABLE contact_card_shares (
    user_id   bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    line_id   bigint      NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    shared_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, line_id)
);

-- +goose Down
DROP TABLE contact_card_shares;
DROP TABLE line_contact_cards;
DROP TABLE failover_moves;
DROP TABLE failovers;
DROP TABLE line_health_history;
ALTER TABLE lines DROP COLUMN recovery_at, DROP COLUMN health_confirmed_at, DROP COLUMN health_input_at;
