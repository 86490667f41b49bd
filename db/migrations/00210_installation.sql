-- +goose Up
-- One random id per database: the namespace of ids derived from row ids
-- (events about ledger and health rows), which start again from 1 in a new
-- database and would otherwise repeat across a reset or another
-- environment.
CREATE TABLE installation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id        uuid    NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO installation DEFAULT VALUES;

-- +goose Down
DROP TABLE installation;
