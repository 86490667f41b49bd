-- +goose Up
-- The pair window: per (line, recipient handle) the times of the sends
-- admitted in the last PAIR_WINDOW, and the loop guard's limit hits. One row
-- per pair so that its row lock serialises admissions of that pair across
-- replicas. No FK to lines: new pairs appear on the send path.
CREATE TABLE pair_state (
    line_id           bigint        NOT NULL,
    handle            text          NOT NULL,
    sends             timestamptz[] NOT NULL DEFAULT '{}',
    -- Times the pair hit its limit with a window full of sends made after
    -- the previous hit, within the loop guard's 10 minutes.
    hits              timestamptz[] NOT NULL DEFAULT '{}',
    quarantined_until timestamptz,
    PRIMARY KEY (line_id, handle)
);

-- Loop-guard quarantines, kept as history; the active one also sits in
-- pair_state.quarantined_until for the send path.
CREATE TABLE pair_quarantines (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id     bigint      NOT NULL,
    handle      text        NOT NULL,
    hits        integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    until       timestamptz NOT NULL,
    released_at timestamptz,
    released_by text
);
CREATE INDEX pair_quarantines_open_idx ON pair_quarantines (line_id, handle) WHERE released_at IS NULL;

-- +goose Down
DROP TABLE pair_quarantines;
DROP TABLE pair_state;
