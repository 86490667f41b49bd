-- name: EventDeliveryInsertBatch :many
-- One row per (subscription, event); an event published twice is delivered
-- once.
INSERT INTO event_deliveries (subscription_id, event_id, event_type, payload, holds_text, created_at, updated_at)
SELECT t.subscription_id, t.event_id, t.event_type, t.payload, t.holds_text, @now::timestamptz, @now::timestamptz
FROM (SELECT unnest(@subscription_ids::bigint[]) AS subscription_id, unnest(@event_ids::text[]) AS event_id,
             unnest(@event_types::text[]) AS event_type, unnest(@payloads::jsonb[]) AS payload,
             unnest(@holds_text::boolean[]) AS holds_text) AS t
ON CONFLICT (subscription_id, event_id) DO NOTHING
RETURNING id;

-- name: EventDeliveryState :one
-- Where one delivery stands, to say why it cannot be retried.
SELECT state FROM event_deliveries WHERE id = @id;

-- name: EventDeliveryGetForSend :one
SELECT d.id, d.subscription_id, d.event_id, d.event_type, d.payload, d.state, d.generation, d.created_at,
       s.url, s.secret, s.retired_secrets, s.retired_until
FROM event_deliveries d JOIN event_subscriptions s ON s.id = d.subscription_id
WHERE d.id = @id;

-- name: EventDeliveryRecord :execrows
-- The outcome of one attempt. A delivered body that holds message text is
-- dropped unless @keep_text. A failure of a job that a retry or replay
-- replaced meanwhile (another @generation) is not recorded: the new job's
-- state stands.
UPDATE event_deliveries
SET state = @state::text, attempts = attempts + 1, last_status = sqlc.narg(last_status)::integer,
    last_error = sqlc.narg(last_error)::text, updated_at = @now::timestamptz,
    delivered_at = CASE WHEN @state::text = 'delivered' THEN @now::timestamptz ELSE delivered_at END,
    payload = CASE WHEN @state::text = 'delivered' AND holds_text AND NOT @keep_text::boolean THEN NULL ELSE payload END
WHERE id = @id AND (generation = @generation::integer OR @state::text = 'delivered');

-- name: EventDeliveryList :many
SELECT id, subscription_id, event_id, event_type, state, attempts, last_status, last_error,
       created_at, updated_at, delivered_at
FROM event_deliveries
WHERE (sqlc.narg(state)::text IS NULL OR state = sqlc.narg(state)::text)
  AND (sqlc.narg(subscription_id)::bigint IS NULL OR subscription_id = sqlc.narg(subscription_id)::bigint)
  AND id > @after_id::bigint
ORDER BY id
LIMIT @max_rows::integer;

-- name: EventDeliveryRequeue :many
-- Failed or dead deliveries to try again now, each in its next generation
-- (its River job, if still scheduled, then sends nothing): one by id, or a page of a
-- subscription's (at most @page with an id above @after, in id order,
-- skipping rows another replay holds): a replay of many commits page by
-- page, and a delivery that fails again meanwhile is not queued twice.
UPDATE event_deliveries
SET state = 'pending', generation = generation + 1, updated_at = @now::timestamptz
WHERE id = ANY (ARRAY(
    SELECT d.id FROM event_deliveries AS d
    WHERE d.state IN ('retrying', 'dead') AND d.payload IS NOT NULL
      AND (sqlc.narg(id)::bigint IS NULL OR d.id = sqlc.narg(id)::bigint)
      AND (sqlc.narg(subscription_id)::bigint IS NULL OR d.subscription_id = sqlc.narg(subscription_id)::bigint)
      AND d.id > @after::bigint
    ORDER BY d.id
    LIMIT @page::integer
    FOR UPDATE SKIP LOCKED
))
RETURNING id, generation;

-- name: EventDeliveryCountDead :one
SELECT count(*)::bigint FROM event_deliveries WHERE state = 'dead';

-- name: EventDeliveryPruneDelivered :execrows
-- Deliveries delivered more than @keep ago, in a bounded batch.
DELETE FROM event_deliveries
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM event_deliveries
    WHERE state = 'delivered' AND delivered_at < (SELECT lg_now() - @keep::interval)
    ORDER BY delivered_at
    LIMIT @batch::integer
));

-- name: EventDeliveryPruneDead :execrows
-- Dead deliveries nobody replayed for @keep, in a bounded batch. A row that
-- ops requeue meanwhile has a new version (and ctid), so it is not deleted.
DELETE FROM event_deliveries
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM event_deliveries
    WHERE state = 'dead' AND updated_at < (SELECT lg_now() - @keep::interval)
    ORDER BY updated_at
    LIMIT @batch::integer
)) AND state = 'dead';

-- name: EventDeliveryMarkOrphansDead :one
-- One batch of deliveries still to be sent (pending, retrying) unchanged
-- for @idle, after the cursor (updated_at, id) in index order: those for
-- which River holds no job that will run are marked dead. River discards
-- a job on its last attempt when the replica running it was killed (its
-- stuck-job rescuer), and the worker never recorded an outcome. A delivery
-- queued again meanwhile (retry, replay) has a new updated_at, so it is
-- not marked, even after waiting for the lock the requeue held. Returns how
-- many rows were looked at and marked and the new cursor, so that one run
-- reads each old row once.
WITH scanned AS (
    SELECT d.id, d.updated_at
    FROM event_deliveries d
    WHERE d.state IN ('pending', 'retrying')
      AND d.updated_at < (SELECT lg_now() - @idle::interval)
      AND (d.updated_at, d.id) > (@after_at::timestamptz, @after_id::bigint)
    ORDER BY d.updated_at, d.id
    LIMIT @batch::integer
), marked AS (
    UPDATE event_deliveries d
    SET state = 'dead', last_error = @reason::text, updated_at = @now::timestamptz
    FROM scanned s
    WHERE d.id = s.id AND d.updated_at = s.updated_at AND d.state IN ('pending', 'retrying')
      AND NOT event_delivery_job_live(d.id)
    RETURNING d.id
), last AS (
    SELECT s.updated_at, s.id FROM scanned s ORDER BY s.updated_at DESC, s.id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM scanned)::bigint AS scanned,
       (SELECT count(*) FROM marked)::bigint AS marked,
       coalesce((SELECT updated_at FROM last), @after_at::timestamptz)::timestamptz AS last_at,
       coalesce((SELECT id FROM last), @after_id::bigint)::bigint AS last_id;
