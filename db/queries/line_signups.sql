-- name: LineSignupsAnalyze :exec
-- Fresh statistics for the signup buckets. The table holds two hours of
-- buckets, so a burst of signups after a quiet spell can grow it many times
-- over within seconds, long before autovacuum looks again; plans cached on
-- the old statistics then probe it by scanning it whole.
ANALYZE line_signups;
