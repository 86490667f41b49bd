-- +goose Up
-- Outbound messages sent through Linegate: metadata only (the parts are kept
-- in body only when STORE_MESSAGE_TEXT is on), plus the caller's idempotency
-- key. A row is written when a send is admitted; a send that Linq refuses
-- without sending removes it again, so only sends that went out (or may
-- have) hold a key.
--
-- No foreign keys on purpose: this table takes an insert per send, and each
-- FK check would key-share-lock the line's row, which under concurrent sends
-- on one line turns into multixact churn on the hottest row of the schema.
CREATE TABLE messages (
    id                     uuid        PRIMARY KEY,
    -- Idempotency: keys are scoped to the calling API key. The key is
    -- cleared (not the row) once idempotency_expires_at passes.
    api_key_id             bigint      NOT NULL,
    idempotency_key        text,
    request_hash           bytea,
    idempotency_expires_at timestamptz,
    user_id                bigint      NOT NULL,
    line_id                bigint      NOT NULL,
    handle                 text        NOT NULL,
    intent                 text        NOT NULL CHECK (intent IN ('proactive', 'reply')),
    -- pending: admitted, Linq call in flight (lease_until bounds it);
    -- sent: Linq accepted it; failed: outcome unknown (5xx / timeout), a
    -- retry with the same key re-sends with the same Linq key.
    state                  text        NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    lease_until            timestamptz,
    admitted_at            timestamptz NOT NULL,
    linq_chat_id           text,
    linq_message_id        text,
    trace_id               text,
    delivery_status        text,
    body                   jsonb,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    UNIQUE (api_key_id, idempotency_key)
) WITH (fillfactor = 85); -- room for the HOT update that records Linq's answer
CREATE INDEX messages_idempotency_expiry_idx ON messages (idempotency_expires_at)
    WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP TABLE messages;
