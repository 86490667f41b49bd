-- +goose Up
-- messages is partitioned by day, on its id: ids are UUIDv7, whose first 48
-- bits are the milliseconds since the epoch, so one day is one id range, a
-- lookup by id touches one partition, and a day past the retention goes
-- with a DROP TABLE instead of row deletes. The message_partitions function
-- (db/functions) makes days ahead and drops old ones; the migrator and the
-- message_partitions job call it.
--
-- A unique index cannot span partitions, so idempotency keys move to
-- message_keys: (API key, key) → message, kept until expires_at.
CREATE TABLE message_keys (
    api_key_id      bigint      NOT NULL,
    idempotency_key text        NOT NULL,
    message_id      uuid        NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, idempotency_key)
);
CREATE INDEX message_keys_expires_idx ON message_keys (expires_at);

INSERT INTO message_keys (api_key_id, idempotency_key, message_id, expires_at)
SELECT api_key_id, idempotency_key, id, idempotency_expires_at
FROM messages
WHERE idempotency_key IS NOT NULL;

-- The key's expiry is message_keys' alone now.
ALTER TABLE messages DROP COLUMN idempotency_expires_at;
ALTER TABLE messages RENAME TO messages_unpartitioned;
ALTER TABLE messages_unpartitioned RENAME CONSTRAINT messages_pkey TO messages_unpartitioned_pkey;
ALTER INDEX messages_pending_lease_idx RENAME TO messages_unpartitioned_pending_lease_idx;

CREATE TABLE messages (LIKE messages_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (id);
ALTER TABLE messages ADD PRIMARY KEY (id);
-- The recovery job finds pending sends whose lease ran out.
CREATE INDEX messages_pending_lease_idx ON messages (lease_until) WHERE state = 'pending';

-- One partition for each day the existing messages fall on, and for today
-- and the next two days (the job makes more ahead on every run).
-- +goose StatementBegin
DO $$
DECLARE
    d date;
BEGIN
    FOR d IN
        SELECT DISTINCT (to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0)
                         AT TIME ZONE 'UTC')::date
          FROM messages_unpartitioned
        UNION
        SELECT (now() AT TIME ZONE 'UTC')::date + g FROM generate_series(-1, 2) AS g
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 85)',
            'messages_p' || to_char(d, 'YYYYMMDD'),
            (lpad(to_hex((extract(epoch FROM d::timestamp AT TIME ZONE 'UTC') * 1000)::bigint), 12, '0')
                || '00000000000000000000')::uuid,
            (lpad(to_hex((extract(epoch FROM (d + 1)::timestamp AT TIME ZONE 'UTC') * 1000)::bigint), 12, '0')
                || '00000000000000000000')::uuid);
    END LOOP;
END;
$$;
-- +goose StatementEnd

INSERT INTO messages SELECT * FROM messages_unpartitioned;
DROP TABLE messages_unpartitioned;

-- +goose Down
CREATE TABLE messages_unpartitioned (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    WITH (fillfactor = 85);
INSERT INTO messages_unpartitioned SELECT * FROM messages;
ALTER TABLE messages_unpartitioned ADD COLUMN idempotency_expires_at timestamptz;
UPDATE messages_unpartitioned AS m SET idempotency_key = k.idempotency_key, idempotency_expires_at = k.expires_at
FROM message_keys AS k WHERE k.message_id = m.id;
DROP TABLE messages;
ALTER TABLE messages_unpartitioned RENAME TO messages;
ALTER TABLE messages ADD PRIMARY KEY (id);
ALTER TABLE messages ADD CONSTRAINT messages_api_key_id_idempotency_key_key UNIQUE (api_key_id, idempotency_key);
CREATE INDEX messages_pending_lease_idx ON messages (lease_until) WHERE state = 'pending';
CREATE INDEX messages_idempotency_expiry_idx ON messages (idempotency_expires_at)
    WHERE idempotency_key IS NOT NULL;
DROP TABLE message_keys;
