-- +goose Up
-- The secrets rotations replaced, newest first, each signing beside the
-- current one until its own overlap ends (same positions in both arrays).
-- One column pair held only the last replaced secret, so a second rotation
-- within an overlap (say one retried after its answer was lost) cut off
-- the secret a product still verified with.
ALTER TABLE event_subscriptions
    ADD COLUMN retired_secrets text[]        NOT NULL DEFAULT '{}',
    ADD COLUMN retired_until   timestamptz[] NOT NULL DEFAULT '{}';
UPDATE event_subscriptions
SET retired_secrets = ARRAY[previous_secret], retired_until = ARRAY[previous_expires_at]
WHERE previous_secret IS NOT NULL AND previous_expires_at IS NOT NULL;
ALTER TABLE event_subscriptions DROP COLUMN previous_secret, DROP COLUMN previous_expires_at;

-- +goose Down
ALTER TABLE event_subscriptions ADD COLUMN previous_secret text, ADD COLUMN previous_expires_at timestamptz;
UPDATE event_subscriptions SET previous_secret = retired_secrets[1], previous_expires_at = retired_until[1];
ALTER TABLE event_subscriptions DROP COLUMN retired_secrets, DROP COLUMN retired_until;
