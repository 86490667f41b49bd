-- name: APIKeyCreate :one
INSERT INTO api_keys (name, prefix, key_hash, scopes)
VALUES (@name, @prefix, @key_hash, @scopes::text[])
RETURNING *;

-- name: APIKeyGetByHash :one
SELECT * FROM api_keys WHERE key_hash = @key_hash;

-- name: APIKeyList :many
SELECT * FROM api_keys ORDER BY id;

-- name: APIKeyRevokeByID :one
UPDATE api_keys SET revoked_at = now()
WHERE id = @id AND revoked_at IS NULL
RETURNING *;

-- name: APIKeyRevokeByPrefix :one
UPDATE api_keys SET revoked_at = now()
WHERE prefix = @prefix AND revoked_at IS NULL
RETURNING *;

-- name: APIKeyTouch :exec
UPDATE api_keys SET last_used_at = now() WHERE id = @id;
