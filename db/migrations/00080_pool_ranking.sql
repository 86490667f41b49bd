-- +goose Up
-- The line pool at scale: assignment reads a ranking of the lines that may
-- take new users instead of the whole pool.
--
-- The predicate of the ranking indexes is line_policy's signup verdict
-- (db/functions/line_policy.sql: active, health ok, not held) spelled out
-- on the row, because an index cannot call a STABLE function. Assignment
-- still applies line_policy to every line it reads; the predicate only
-- decides which lines it reads, so it must admit every line line_policy
-- lets take users (keep it in step when line_policy changes).
--
-- Lines with the same budget override and no warm-up left have the same
-- user cap, so within such a class utilization ranks as user_count does:
-- the signup ranking (fewest users, least recently assigned, lowest id)
-- and the backup ranking (fewest users, lowest id) are index orders.
CREATE INDEX lines_signup_rank_idx
    ON lines ((coalesce(budget_override, 0)), user_count, last_assigned_at NULLS FIRST, id)
    WHERE admin_state = 'active' AND health_state = 'ok' AND service_status = 'ACTIVE'
      AND ineligible_at IS NULL AND linq_missing_at IS NULL AND reputation = 'HEALTHY' AND held_at IS NULL;
CREATE INDEX lines_backup_rank_idx
    ON lines ((coalesce(budget_override, 0)), user_count, id)
    WHERE admin_state = 'active' AND health_state = 'ok' AND service_status = 'ACTIVE'
      AND ineligible_at IS NULL AND linq_missing_at IS NULL AND reputation = 'HEALTHY' AND held_at IS NULL;
-- Lines still warming up have caps of their own; assignment reads them all.
CREATE INDEX lines_signup_warmup_idx
    ON lines (warmup_started_at)
    WHERE admin_state = 'active' AND health_state = 'ok' AND service_status = 'ACTIVE'
      AND ineligible_at IS NULL AND linq_missing_at IS NULL AND reputation = 'HEALTHY' AND held_at IS NULL;
-- The next assignment time is later than every stored one.
CREATE INDEX lines_last_assigned_idx ON lines (last_assigned_at);

-- +goose Down
DROP INDEX lines_last_assigned_idx;
DROP INDEX lines_signup_warmup_idx;
DROP INDEX lines_backup_rank_idx;
DROP INDEX lines_signup_rank_idx;
