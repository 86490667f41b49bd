-- name: LinqWebhookSubscriptionChangeBegin :exec
-- Records that the subscription to a target URL is being replaced; run on
-- its own connection, so it is committed before Linq is called.
INSERT INTO linq_webhook_subscription_changes (target_url, started_at)
VALUES (@target_url::text, lg_now())
ON CONFLICT (target_url) DO UPDATE SET started_at = excluded.started_at;

-- name: LinqWebhookSubscriptionChangeEnd :exec
-- Ends the change, in the transaction that stores the new secret (or on
-- its own when Linq created nothing).
DELETE FROM linq_webhook_subscription_changes WHERE target_url = @target_url::text;
