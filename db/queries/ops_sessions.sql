-- name: OpsSessionCreate :one
INSERT INTO ops_sessions (token_hash, csrf_token, api_key_id, created_at, expires_at)
VALUES (@token_hash::bytea, @csrf_token::text, @api_key_id::bigint, @now::timestamptz, @expires_at::timestamptz)
RETURNING id;

-- name: OpsSessionGet :one
-- A live session with its key: not revoked, not expired, its key not revoked.
SELECT s.id, s.csrf_token, s.expires_at, k.id AS api_key_id, k.name AS key_name, k.scopes
FROM ops_sessions s
JOIN api_keys k ON k.id = s.api_key_id
WHERE s.token_hash = @token_hash::bytea
  AND s.revoked_at IS NULL
  AND s.expires_at > @now::timestamptz
  AND k.revoked_at IS NULL;

-- name: OpsSessionRevoke :execrows
UPDATE ops_sessions SET revoked_at = @now::timestamptz
WHERE token_hash = @token_hash::bytea AND revoked_at IS NULL;

-- name: OpsSessionPrune :execrows
-- Sessions that ended before @before (expired or revoked), in one go: there
-- are few, one per sign-in.
DELETE FROM ops_sessions
WHERE expires_at < @before::timestamptz OR revoked_at < @before::timestamptz;

-- name: OpsSessionPruneExpired :execrows
-- Sessions expired more than @keep ago (a revoked one expires too), in a
-- bounded batch.
DELETE FROM ops_sessions
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM ops_sessions
    WHERE expires_at < (SELECT lg_now() - @keep::interval)
    ORDER BY expires_at
    LIMIT @batch::integer
));
