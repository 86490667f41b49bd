-- +goose Up
-- The send path's functions changed shape. send_admit's body moved into send_admit_many (db/functions): the
-- per-send function it called in a loop is gone from the function set.
DROP FUNCTION IF EXISTS send_admit(uuid, bigint, text, bytea, text, text, text, jsonb, jsonb);
-- line_policy now returns a one-row table (so that it is inlined), a change
-- of return type CREATE OR REPLACE cannot make.
DROP FUNCTION IF EXISTS line_policy(lines, jsonb, timestamptz);

-- +goose Down
-- The migrator drops the db/functions set before any down step; the
-- function set of the code migrating down brings send_admit back.
SELECT 1;
