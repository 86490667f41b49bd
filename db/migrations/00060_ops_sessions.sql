-- +goose Up
-- Signed-in sessions of the ops dashboard. The cookie carries a random
-- token of which only a SHA-256 is kept; the session acts with its API key's
-- scopes for as long as neither is revoked and it has not expired. The CSRF
-- token is per session and goes with every write the page makes.
CREATE TABLE ops_sessions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash bytea       NOT NULL UNIQUE,
    csrf_token text        NOT NULL,
    api_key_id bigint      NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ops_sessions_expires_idx ON ops_sessions (expires_at);

-- The capacity plan counts signups by home line over 24 h and 7 days.
CREATE INDEX users_created_at_idx ON users (created_at);

-- +goose Down
DROP INDEX users_created_at_idx;
DROP TABLE ops_sessions;
