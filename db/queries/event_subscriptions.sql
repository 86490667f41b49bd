-- name: EventSubscriptionCreate :one
INSERT INTO event_subscriptions (url, event_types, secret, created_at, updated_at)
VALUES (@url::text, @event_types::text[], @secret::text, @now::timestamptz, @now::timestamptz)
RETURNING *;

-- name: EventSubscriptionList :many
SELECT * FROM event_subscriptions ORDER BY id;

-- name: EventSubscriptionGet :one
SELECT * FROM event_subscriptions WHERE id = @id;

-- name: EventSubscriptionUpdate :one
UPDATE event_subscriptions
SET url = coalesce(sqlc.narg(url)::text, url),
    event_types = coalesce(sqlc.narg(event_types)::text[], event_types),
    updated_at = @now::timestamptz
WHERE id = @id
RETURNING *;

-- name: EventSubscriptionGetForRotate :one
-- The subscription, locked until the rotation commits: two rotations at
-- once must not drop each other's secret.
SELECT * FROM event_subscriptions WHERE id = @id FOR UPDATE;

-- name: EventSubscriptionRotate :one
-- The new secret, and the replaced ones that still sign (the one it
-- replaces first), each until its overlap ends.
UPDATE event_subscriptions
SET secret = @secret::text, retired_secrets = @retired_secrets::text[], retired_until = @retired_until::timestamptz[],
    updated_at = @now::timestamptz
WHERE id = @id
RETURNING *;

-- name: EventSubscriptionDelete :execrows
DELETE FROM event_subscriptions WHERE id = @id;

-- name: EventSubscriptionTargets :many
-- Who wants any of the given event types (Publish reads it once per call).
SELECT id, event_types FROM event_subscriptions WHERE event_types && @event_types::text[];

-- name: EventSubscriptionLockWriters :exec
-- Until the transaction ends, other writers of subscriptions wait (readers
-- do not): two replicas cannot subscribe one URL twice.
LOCK TABLE event_subscriptions IN SHARE ROW EXCLUSIVE MODE;

-- name: EventSubscriptionIDByURL :one
-- Another subscription of the URL, if there is one.
SELECT id FROM event_subscriptions WHERE url = @url::text AND id <> @except_id::bigint ORDER BY id LIMIT 1;
