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

-- name: WebhookEventPrune :execrows
-- Processed events received more than @keep ago, in a bounded batch. The
-- cutoff is a subquery so that it is computed once (lg_now is volatile) and
-- bounds the index scan.
DELETE FROM webhook_events
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM webhook_events
    WHERE processed_at IS NOT NULL AND received_at < (SELECT lg_now() - @keep::interval)
    ORDER BY received_at
    LIMIT @batch::integer
));

-- name: WebhookEventLockBatch :many
-- The events of one processing batch, locked in event_id order (the row
-- locks are taken after the sort), so that concurrent batches, in one
-- process or across replicas, never wait on each other in a cycle.
SELECT * FROM webhook_events WHERE event_id = ANY (@event_ids::text[]) ORDER BY event_id FOR UPDATE;

-- name: WebhookEventMarkProcessedBatch :exec
UPDATE webhook_events AS w
SET processed_at = @processed_at::timestamptz, outcome = v.outcome, payload = v.payload
FROM (SELECT unnest(@event_ids::text[]) AS event_id, unnest(@outcomes::text[]) AS outcome,
             unnest(@payloads::jsonb[]) AS payload) AS v
WHERE w.event_id = v.event_id;
