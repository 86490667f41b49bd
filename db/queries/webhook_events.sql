-- name: WebhookEventInsert :execrows
-- Stores an accepted Linq event; 0 rows means Linq delivered it before.
INSERT INTO webhook_events (event_id, event_type, occurred_at, received_at, payload)
VALUES (@event_id::text, @event_type::text, @occurred_at::timestamptz, @received_at::timestamptz, @payload::jsonb)
ON CONFLICT (event_id) DO NOTHING;

-- name: WebhookEventLock :one
-- The event for its processing transaction; the row lock makes concurrent
-- runs of one event wait for each other, and processed_at tells the later
-- one there is nothing left to do.
SELECT * FROM webhook_events WHERE event_id = @event_id::text FOR UPDATE;

-- name: WebhookEventMarkProcessed :exec
UPDATE webhook_events
SET processed_at = @processed_at::timestamptz, outcome = @outcome::text, payload = @payload::jsonb
WHERE event_id = @event_id::text;

-- name: WebhookEventCountUnprocessed :one
SELECT count(*)::bigint FROM webhook_events WHERE processed_at IS NULL;
