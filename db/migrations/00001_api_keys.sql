-- +goose Up
-- API keys for product services and ops. Only a SHA-256 of the key is kept;
-- the prefix lets ops recognise a key in listings without revealing it.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL CHECK (name <> ''),
    prefix       text        NOT NULL UNIQUE,
    key_hash     bytea       NOT NULL UNIQUE,
    scopes       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- +goose Down
DROP TABLE api_keys;
