-- +goose Up
-- A send that opens a moved user's chat with the continuation text is
-- admitted with two stamps in the pair window (and two units of the
-- line's budget): its own at admitted_at and the continuation's, kept here
-- until the chat the continuation opened is recorded, so that a failure, a
-- takeover or the recovery job moves (or gives back) the continuation's
-- stamp with the message's. NULL: the send holds no continuation stamp.
-- Only an open send (pending or failed) reads it.
ALTER TABLE messages ADD COLUMN continuation_at timestamptz;
-- send_admit_many and message_claim_expired answer the continuation's stamp
-- (db/functions), a change of return type CREATE OR REPLACE cannot make.
DROP FUNCTION IF EXISTS send_admit_many(uuid[], bigint[], text[], bytea[], text[], text[], text[], jsonb[], jsonb);
DROP FUNCTION IF EXISTS message_claim_expired(interval, integer, jsonb);

-- +goose Down
-- The migrator drops the db/functions set before any down step; the
-- function set of the code migrating down brings the old form back.
ALTER TABLE messages DROP COLUMN continuation_at;
