-- +goose Up
-- When the user last wrote something other than an opt-out keyword. Linq
-- lifts an opt-out on any later such message, and webhook events arrive out
-- of order: an opt-out older than this, processed after it, does not apply.
ALTER TABLE users ADD COLUMN last_ordinary_inbound_at timestamptz;

-- +goose Down
ALTER TABLE users DROP COLUMN last_ordinary_inbound_at;
