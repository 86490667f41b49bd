-- +goose Up
-- A line's users in id order (GET /v1/ops/lines/{id}/users pages them by
-- id); the failover's and the moves' lookups by current line use it too.
CREATE INDEX users_current_line_id_idx ON users (current_line_id, id);
DROP INDEX users_current_line_idx;

-- +goose Down
CREATE INDEX users_current_line_idx ON users (current_line_id);
DROP INDEX users_current_line_id_idx;
