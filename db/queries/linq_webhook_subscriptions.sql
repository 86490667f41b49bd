-- name: LinqWebhookSubscriptionLock :exec
-- Serialises replicas that ensure the subscription at the same time, so
-- only one of them creates it at Linq.
SELECT pg_advisory_xact_lock(@key::bigint);

-- name: LinqWebhookSubscriptionGet :one
SELECT * FROM linq_webhook_subscriptions WHERE target_url = @target_url::text;

-- name: LinqWebhookSubscriptionSave :exec
INSERT INTO linq_webhook_subscriptions (id, target_url, signing_secret, event_types, created_at)
VALUES (@id::text, @target_url::text, @signing_secret::text, @event_types::text[], @created_at::timestamptz)
ON CONFLICT (target_url) DO UPDATE
SET id = excluded.id, signing_secret = excluded.signing_secret, event_types = excluded.event_types,
    created_at = excluded.created_at;

-- name: LinqWebhookSubscriptionDelete :exec
DELETE FROM linq_webhook_subscriptions WHERE id = @id::text;

-- name: LinqWebhookSubscriptionSecrets :one
-- The stored signing secrets, newest first, and whether a change of a
-- subscription begun within the given window is in progress (its new
-- secret may be at Linq and not yet committed here). One snapshot: a
-- change that has ended shows as its secret.
SELECT coalesce((SELECT array_agg(s.signing_secret ORDER BY s.created_at DESC)
                 FROM linq_webhook_subscriptions AS s), '{}')::text[] AS secrets,
       EXISTS (SELECT 1 FROM linq_webhook_subscription_changes AS c
               WHERE c.started_at > lg_now() - make_interval(secs => @change_for_seconds::integer)) AS changing;
