-- +goose Up
-- A line's health inputs are ordered per signal instead of by one time for
-- every kind of input: an input changes only the signals it saw, and each
-- only when it saw it later than the stored one was seen. One time let an
-- input that knew nothing of the service status (a poll whose check of the
-- line failed, a reputation webhook) make an older, delayed FLAGGED webhook
-- stale.
--
-- status_input_at: the service status and a 2027 mark (whether the line may
-- send); reputation_input_at: the reputation; listing_input_at: whether
-- Linq lists the line (the poll's list). Each starts from the time every
-- input was ordered by, so nothing older than it applies now either.
ALTER TABLE lines
    ADD COLUMN status_input_at     timestamptz,
    ADD COLUMN reputation_input_at timestamptz,
    ADD COLUMN listing_input_at    timestamptz;
UPDATE lines SET status_input_at = health_input_at, reputation_input_at = health_input_at, listing_input_at = health_input_at
WHERE health_input_at IS NOT NULL;
ALTER TABLE lines DROP COLUMN health_input_at;

-- +goose Down
ALTER TABLE lines ADD COLUMN health_input_at timestamptz;
UPDATE lines SET health_input_at = greatest(status_input_at, reputation_input_at, listing_input_at);
ALTER TABLE lines DROP COLUMN listing_input_at, DROP COLUMN reputation_input_at, DROP COLUMN status_input_at;
