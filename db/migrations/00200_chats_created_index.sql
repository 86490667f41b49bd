-- +goose Up
-- The contact card share finds the chats opened lately (a user's first
-- message on a line) by when they were opened, whatever the message rate.
CREATE INDEX chats_created_at_idx ON chats (created_at);

-- +goose Down
DROP INDEX chats_created_at_idx;
