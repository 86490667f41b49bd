-- +goose Up
-- Deleting a user removes their failover moves (ON DELETE CASCADE), under
-- the pool lock: by the user's key, not by reading every move of the
-- failovers kept (FAILOVERS_RETENTION).
CREATE INDEX failover_moves_user_idx ON failover_moves (user_id);

-- +goose Down
DROP INDEX failover_moves_user_idx;
