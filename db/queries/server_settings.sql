-- name: ServerDefaultIsolation :one
-- The isolation level new transactions get; the send path's exactness
-- assumes read committed.
SELECT current_setting('default_transaction_isolation')::text AS isolation;
