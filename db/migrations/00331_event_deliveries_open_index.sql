-- +goose Up
-- The orphan sweep walks deliveries still to be sent (pending, retrying) by
-- how long they have been unchanged, so it reads only the old ones.
CREATE INDEX event_deliveries_open_idx ON event_deliveries (updated_at, id) WHERE state IN ('pending', 'retrying');

-- +goose Down
DROP INDEX event_deliveries_open_idx;
