-- +goose Up
-- Every Linq webhook Linegate accepted, keyed by Linq's event_id so that a
-- redelivery is recognised and changes nothing. The row and the River job
-- that processes it are written in one transaction before the 2xx.
-- payload is the verified envelope; once processed, the text of inbound
-- messages is removed from it unless STORE_MESSAGE_TEXT is on.
CREATE TABLE webhook_events (
    event_id     text        PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 200),
    event_type   text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    payload      jsonb       NOT NULL,
    processed_at timestamptz,
    -- What processing did, for ops: "counted", "connected", "opted_out",
    -- "ignored", ...
    outcome      text
);
CREATE INDEX webhook_events_unprocessed_idx ON webhook_events (received_at) WHERE processed_at IS NULL;

-- The webhook subscription Linegate created at Linq for itself, with the
-- signing secret Linq showed once.
CREATE TABLE linq_webhook_subscriptions (
    id             text        PRIMARY KEY,
    target_url     text        NOT NULL UNIQUE,
    signing_secret text        NOT NULL,
    event_types    text[]      NOT NULL,
    created_at     timestamptz NOT NULL
);

-- Linq's message id of an outbound message, learnt from its message.sent,
-- .delivered or .read event (they carry our idempotency key, which is the
-- messages row's id). message.failed names only Linq's id, so it finds the
-- message here. A failure seen before the message is linked waits here
-- (message_id NULL) and is applied when the link arrives. A separate table
-- keeps indexes off messages, whose updates stay HOT.
CREATE TABLE linq_messages (
    linq_message_id text        PRIMARY KEY,
    message_id      uuid,
    failed_at       timestamptz,
    error_code      integer,
    created_at      timestamptz NOT NULL
);

-- Delivery state of outbound messages as Linq reports it.
ALTER TABLE messages
    ADD COLUMN sent_at      timestamptz,
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN read_at      timestamptz,
    ADD COLUMN failed_at    timestamptz,
    ADD COLUMN error_code   integer;

-- message.failed and reactions name only the chat: find its line.
CREATE INDEX chats_linq_chat_idx ON chats (linq_chat_id);

-- +goose Down
DROP INDEX chats_linq_chat_idx;
ALTER TABLE messages
    DROP COLUMN sent_at, DROP COLUMN delivered_at, DROP COLUMN read_at,
    DROP COLUMN failed_at, DROP COLUMN error_code;
DROP TABLE linq_messages;
DROP TABLE linq_webhook_subscriptions;
DROP TABLE webhook_events;
