-- +goose Up
-- Each user's messages per UTC day, for the user lookup: inbound counted as
-- the webhook workers count the line's, outbound folded from messages by a
-- job (UserVolumeFold) so that the send path writes nothing more. Kept for
-- the days the lookup shows.
CREATE TABLE user_volume (
    user_id  bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day      date    NOT NULL,
    inbound  integer NOT NULL DEFAULT 0 CHECK (inbound >= 0),
    outbound integer NOT NULL DEFAULT 0 CHECK (outbound >= 0),
    PRIMARY KEY (user_id, day)
);
CREATE INDEX user_volume_day_idx ON user_volume (day);

-- How far outbound has been folded: messages whose id (UUIDv7) was made
-- before folded_until are counted. One row; the fold locks it, so two replicas never count a
-- message twice. Counting starts when this migration runs.
CREATE TABLE user_volume_fold (
    id           boolean     PRIMARY KEY DEFAULT true CHECK (id),
    folded_until timestamptz NOT NULL
);
INSERT INTO user_volume_fold (folded_until) VALUES (now());

-- +goose Down
DROP TABLE user_volume_fold;
DROP TABLE user_volume;
