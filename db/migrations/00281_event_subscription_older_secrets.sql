-- +goose Up
-- Secrets that earlier rotations replaced and that still sign until their
-- own overlap ends (same positions in both arrays): a second rotation
-- within an overlap (say one retried after its answer was lost) must not
-- cut off the secret a product still verifies with.
ALTER TABLE event_subscriptions
    ADD COLUMN older_secrets    text[]        NOT NULL DEFAULT '{}',
    ADD COLUMN older_expires_at timestamptz[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE event_subscriptions DROP COLUMN older_secrets, DROP COLUMN older_expires_at;
