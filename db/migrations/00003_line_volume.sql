-- +goose Up
-- Messages per line per minute, inbound and outbound. The rolling-24h budget
-- sums the last 1,440 rows of a line; capacity planning reads 7 days.
CREATE TABLE line_volume (
    line_id  bigint      NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    minute   timestamptz NOT NULL,
    inbound  integer     NOT NULL DEFAULT 0 CHECK (inbound >= 0),
    outbound integer     NOT NULL DEFAULT 0 CHECK (outbound >= 0),
    PRIMARY KEY (line_id, minute)
);

-- +goose Down
DROP TABLE line_volume;
