-- +goose Up
-- limits_admit also moves the stamps of resent sends, under its own ordered
-- locks (db/functions); its signature without them, which CREATE OR
-- REPLACE cannot change, goes.
DROP FUNCTION IF EXISTS limits_admit(bigint[], boolean[], integer[], integer[], text[], jsonb, timestamptz[]);

-- +goose Down
-- The migrator drops the db/functions set before any down step; the
-- function set of the code migrating down brings the old form back.
SELECT 1;
