-- +goose Up
-- The Linq chat of a user on a line. The first send from a line creates it
-- (POST /v3/chats with an explicit from); later sends reuse its id. A user
-- who fails over gets a new chat on the backup line, the old one stays.
CREATE TABLE chats (
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    line_id      bigint      NOT NULL REFERENCES lines (id),
    linq_chat_id text        NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, line_id)
);

-- +goose Down
DROP TABLE chats;
