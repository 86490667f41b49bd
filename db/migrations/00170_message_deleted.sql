-- +goose Up
-- When Linq confirmed a message deleted: a repeated DELETE answers from
-- here instead of asking Linq again, and actions on the message are
-- refused.
ALTER TABLE messages ADD COLUMN deleted_at timestamptz;

-- +goose Down
ALTER TABLE messages DROP COLUMN deleted_at;
