-- +goose Up
-- A replacement of Linegate's Linq webhook subscription in progress. It is
-- committed before Linq is asked for the new subscription and removed in
-- the transaction that stores the new signing secret: Linq can deliver
-- with that secret before the commit, and while a change is in progress
-- intake answers a delivery no stored secret verifies with a 503 (Linq
-- retries it) instead of a 401 (Linq drops it). A change whose replica
-- died counts only for a bounded time (see webhooks.subscriptionChangeFor).
CREATE TABLE linq_webhook_subscription_changes (
    target_url text        PRIMARY KEY,
    started_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE linq_webhook_subscription_changes;
