-- +goose Up
-- The rolling 24 h count of each line, kept as a running total so that an
-- admission reads one row instead of summing up to 1,440 minute rows.
-- Invariant: total = the sum of the line's line_volume rows with
-- minute >= since. Every change to line_volume keeps it (the trigger
-- below); the admission moves since forward to its window's first minute,
-- subtracting the minutes that left (limits_admit).
--
-- The row is also the line's budget lock: a writer of a line's volume
-- locks it first, before any pair_state or line_volume row of the line.
CREATE TABLE line_window (
    line_id bigint      PRIMARY KEY REFERENCES lines (id) ON DELETE CASCADE,
    since   timestamptz NOT NULL,
    total   bigint      NOT NULL
);

INSERT INTO line_window (line_id, since, total)
SELECT l.id, '-infinity', coalesce((SELECT sum(v.inbound + v.outbound) FROM line_volume AS v WHERE v.line_id = l.id), 0)
FROM lines AS l;

-- +goose StatementBegin
CREATE FUNCTION line_window_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO line_window (line_id, since, total) VALUES (NEW.id, '-infinity', 0)
    ON CONFLICT (line_id) DO NOTHING;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER lines_open_window AFTER INSERT ON lines
    FOR EACH ROW EXECUTE FUNCTION line_window_open();

-- +goose StatementBegin
CREATE FUNCTION line_window_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.line_id = NEW.line_id AND OLD.minute = NEW.minute THEN
        UPDATE line_window AS w
           SET total = w.total + (NEW.inbound + NEW.outbound) - (OLD.inbound + OLD.outbound)
         WHERE w.line_id = NEW.line_id AND NEW.minute >= w.since;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        UPDATE line_window AS w SET total = w.total - (OLD.inbound + OLD.outbound)
         WHERE w.line_id = OLD.line_id AND OLD.minute >= w.since;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE line_window AS w SET total = w.total + (NEW.inbound + NEW.outbound)
         WHERE w.line_id = NEW.line_id AND NEW.minute >= w.since;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER line_volume_count AFTER INSERT OR UPDATE OR DELETE ON line_volume
    FOR EACH ROW EXECUTE FUNCTION line_window_count();

-- +goose Down
DROP TRIGGER line_volume_count ON line_volume;
DROP FUNCTION line_window_count;
DROP TRIGGER lines_open_window ON lines;
DROP FUNCTION line_window_open;
DROP TABLE line_window;
