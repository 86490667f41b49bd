-- +goose Up
-- Indexes that bound the retention job's deletes: each prune walks only the
-- rows past their table's retention, in the order of the column it is kept
-- by. failovers, line_health_history and ops_sessions already have theirs.

-- Processed Linq events by receipt; unprocessed ones are work to do and
-- never pruned (webhook_events_unprocessed_idx finds those).
CREATE INDEX webhook_events_processed_idx ON webhook_events (received_at) WHERE processed_at IS NOT NULL;

-- Delivered events by delivery time, dead ones by their last attempt.
CREATE INDEX event_deliveries_delivered_idx ON event_deliveries (delivered_at) WHERE state = 'delivered';
CREATE INDEX event_deliveries_dead_idx ON event_deliveries (updated_at) WHERE state = 'dead';

CREATE INDEX linq_messages_created_idx ON linq_messages (created_at);
CREATE INDEX signup_links_expires_idx ON signup_links (expires_at);
CREATE INDEX pair_quarantines_until_idx ON pair_quarantines (until);
CREATE INDEX line_ledger_created_idx ON line_ledger (created_at, id);

-- line_volume's primary key leads with line_id, so its prune by minute had
-- no index to walk.
CREATE INDEX line_volume_minute_idx ON line_volume (minute);

-- +goose Down
DROP INDEX line_volume_minute_idx;
DROP INDEX line_ledger_created_idx;
DROP INDEX pair_quarantines_until_idx;
DROP INDEX signup_links_expires_idx;
DROP INDEX linq_messages_created_idx;
DROP INDEX event_deliveries_dead_idx;
DROP INDEX event_deliveries_delivered_idx;
DROP INDEX webhook_events_processed_idx;
