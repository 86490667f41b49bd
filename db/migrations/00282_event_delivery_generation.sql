-- +goose Up
-- How often ops queued the delivery again (retry, replay). Its River job
-- carries the generation it was queued for: a job a later retry replaced
-- sends nothing, and an attempt of it still under way records no failure
-- over the new job's state.
ALTER TABLE event_deliveries ADD COLUMN generation integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE event_deliveries DROP COLUMN generation;
