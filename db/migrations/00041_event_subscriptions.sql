-- +goose Up
-- Product services' subscriptions to Linegate's events. A rotated secret
-- keeps signing (next to the new one) until previous_expires_at, so a
-- consumer can switch without dropping deliveries.
CREATE TABLE event_subscriptions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                 text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    event_types         text[]      NOT NULL CHECK (cardinality(event_types) > 0),
    secret              text        NOT NULL,
    previous_secret     text,
    previous_expires_at timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

-- One row per (subscription, event): what was sent and how it went. The
-- River job that sends it holds only the row's id, so the body (and any
-- message text in it) lives only here and is dropped once delivered unless
-- STORE_MESSAGE_TEXT is on. Dead rows stay until ops replay them.
CREATE TABLE event_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint      NOT NULL REFERENCES event_subscriptions (id) ON DELETE CASCADE,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb,
    holds_text      boolean     NOT NULL DEFAULT false,
    -- pending: not tried yet; retrying: failed, River tries again; delivered;
    -- dead: out of attempts (replayable).
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'retrying', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX event_deliveries_state_idx ON event_deliveries (state, id) WHERE state IN ('retrying', 'dead');
CREATE INDEX event_deliveries_sub_state_idx ON event_deliveries (subscription_id, state);

-- +goose Down
DROP TABLE event_deliveries;
DROP TABLE event_subscriptions;
