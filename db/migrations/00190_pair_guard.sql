-- +goose Up
-- message_mark_sent_many takes the pair guard (db/functions); its form
-- without it, which CREATE OR REPLACE cannot change, goes.
DROP FUNCTION IF EXISTS message_mark_sent_many(uuid[], bigint[], text[], text[], text[], text[], text[], boolean[], boolean);

-- +goose Down
-- The migrator drops the db/functions set before any down step; the
-- function set of the code migrating down brings the old form back.
SELECT 1;
