-- +goose Up
-- The backup-slot count triggers find their rows by key. PL/pgSQL caches
-- each statement's plan for the connection until a table it reads is
-- analyzed again, made from the statistics of that moment: one made while
-- users looked small hash-joins a signup batch's line sets to all of users,
-- and reads every user on every batch as users grows (a statement of a
-- trigger has no parameters, so it is never planned again for its values).
-- Without sequential scans the planner takes the keys' indexes whatever
-- the statistics say.
ALTER FUNCTION line_backup_slots_count() SET enable_seqscan = off;
ALTER FUNCTION line_backup_slots_rehome() SET enable_seqscan = off;
ALTER FUNCTION line_backup_slots_forget() SET enable_seqscan = off;

-- +goose Down
ALTER FUNCTION line_backup_slots_count() RESET enable_seqscan;
ALTER FUNCTION line_backup_slots_rehome() RESET enable_seqscan;
ALTER FUNCTION line_backup_slots_forget() RESET enable_seqscan;
