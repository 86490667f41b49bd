-- +goose Up
-- limits_admit decides a set of sends in one call (db/functions); its
-- one-send signature, which CREATE OR REPLACE cannot change, goes.
DROP FUNCTION IF EXISTS limits_admit(bigint, text[], jsonb, boolean, integer, timestamptz);

-- +goose Down
-- The migrator drops the db/functions set before any down step; the
-- function set of the code migrating down brings the one-send form back.
SELECT 1;
