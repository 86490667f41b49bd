-- +goose Up
-- How many backup slots each line holds for the users of each home line:
-- what backup spreading ranks lines by (router.planBackups). Counting it
-- per signup batch joined users and user_lines, a cost that grew with the
-- users of the batch's home lines; this keeps the count instead. A row
-- holds, for one home line and one line, the number of user_lines rows at
-- position > 0 naming the line whose user's home is the home line, and
-- exists only while that number is above 0. The triggers below keep it on
-- every change of user_lines and of a user's home line, in the writer's
-- transaction. Bulk loads that switch triggers off (session_replication_role
-- = replica) must fill it themselves, as they do lines.user_count.
CREATE TABLE line_backup_slots (
    home_line_id bigint  NOT NULL,
    line_id      bigint  NOT NULL,
    slots        integer NOT NULL CHECK (slots > 0),
    PRIMARY KEY (home_line_id, line_id)
);

-- Once per statement, set-based: a batch of signups or a move's line sets
-- cost one grouped write, not one per row. Additions are written in key
-- order, so concurrent signup batches never wait on each other crosswise
-- (each holds its home lines, so they never share a row either); removals
-- come from moves, which hold the pool lock exclusively. A removal takes a
-- row down to nothing rather than below it.
-- +goose StatementBegin
CREATE FUNCTION line_backup_slots_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    homes bigint[];
    ids   bigint[];
    ns    integer[];
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        -- A user deleted with their line set (ON DELETE CASCADE) is gone
        -- here: line_backup_slots_forget took their slots off before.
        SELECT array_agg(d.home_line_id), array_agg(d.line_id), array_agg(d.n)
          INTO homes, ids, ns
          FROM (SELECT u.home_line_id, o.line_id, count(*)::int AS n
                FROM old_rows o JOIN users u ON u.id = o.user_id
                WHERE o.position > 0
                GROUP BY u.home_line_id, o.line_id) d;
        IF homes IS NOT NULL THEN
            DELETE FROM line_backup_slots s
             USING unnest(homes, ids, ns) AS d (home_line_id, line_id, n)
             WHERE s.home_line_id = d.home_line_id AND s.line_id = d.line_id AND s.slots <= d.n;
            UPDATE line_backup_slots s SET slots = s.slots - d.n
              FROM unnest(homes, ids, ns) AS d (home_line_id, line_id, n)
             WHERE s.home_line_id = d.home_line_id AND s.line_id = d.line_id;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO line_backup_slots AS s (home_line_id, line_id, slots)
        SELECT u.home_line_id, n.line_id, count(*)
        FROM new_rows n JOIN users u ON u.id = n.user_id
        WHERE n.position > 0
        GROUP BY u.home_line_id, n.line_id
        ORDER BY u.home_line_id, n.line_id
        ON CONFLICT (home_line_id, line_id) DO UPDATE SET slots = s.slots + excluded.slots;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER user_lines_count_insert AFTER INSERT ON user_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION line_backup_slots_count();
CREATE TRIGGER user_lines_count_update AFTER UPDATE ON user_lines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION line_backup_slots_count();
CREATE TRIGGER user_lines_count_delete AFTER DELETE ON user_lines
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION line_backup_slots_count();

-- +goose StatementBegin
CREATE FUNCTION line_backup_slots_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM line_backup_slots;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER user_lines_count_truncate AFTER TRUNCATE ON user_lines
    FOR EACH STATEMENT EXECUTE FUNCTION line_backup_slots_truncate();

-- A user whose home line changes takes their backup slots along. Row by
-- row, and only when home_line_id changes, so that the send and inbound
-- paths' updates of users pay nothing; moves write new homes while the line
-- sets are cleared (router.moveUsersOff), so this finds no slot to move.
-- +goose StatementBegin
CREATE FUNCTION line_backup_slots_rehome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM user_lines ul WHERE ul.user_id = NEW.id AND ul.position > 0) THEN
        RETURN NULL;
    END IF;
    DELETE FROM line_backup_slots s
     USING user_lines ul
     WHERE ul.user_id = NEW.id AND ul.position > 0
       AND s.home_line_id = OLD.home_line_id AND s.line_id = ul.line_id AND s.slots <= 1;
    UPDATE line_backup_slots s SET slots = s.slots - 1
      FROM user_lines ul
     WHERE ul.user_id = NEW.id AND ul.position > 0
       AND s.home_line_id = OLD.home_line_id AND s.line_id = ul.line_id;
    INSERT INTO line_backup_slots AS s (home_line_id, line_id, slots)
    SELECT NEW.home_line_id, ul.line_id, 1
    FROM user_lines ul
    WHERE ul.user_id = NEW.id AND ul.position > 0
    ORDER BY ul.line_id
    ON CONFLICT (home_line_id, line_id) DO UPDATE SET slots = s.slots + 1;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_rehome_backup_slots AFTER UPDATE OF home_line_id ON users
    FOR EACH ROW WHEN (OLD.home_line_id IS DISTINCT FROM NEW.home_line_id)
    EXECUTE FUNCTION line_backup_slots_rehome();

-- A deleted user's line set goes by ON DELETE CASCADE after the user row,
-- when their home line can no longer be read: the slots go before.
-- +goose StatementBegin
CREATE FUNCTION line_backup_slots_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM line_backup_slots s
     USING user_lines ul
     WHERE ul.user_id = OLD.id AND ul.position > 0
       AND s.home_line_id = OLD.home_line_id AND s.line_id = ul.line_id AND s.slots <= 1;
    UPDATE line_backup_slots s SET slots = s.slots - 1
      FROM user_lines ul
     WHERE ul.user_id = OLD.id AND ul.position > 0
       AND s.home_line_id = OLD.home_line_id AND s.line_id = ul.line_id;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_forget_backup_slots BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION line_backup_slots_forget();

-- The triggers exist before the count is taken, and creating them locked
-- users and user_lines against writes until this migration commits: no
-- change falls between the two.
INSERT INTO line_backup_slots (home_line_id, line_id, slots)
SELECT u.home_line_id, ul.line_id, count(*)
FROM users u JOIN user_lines ul ON ul.user_id = u.id AND ul.position > 0
GROUP BY u.home_line_id, ul.line_id;

-- +goose Down
DROP TRIGGER users_forget_backup_slots ON users;
DROP FUNCTION line_backup_slots_forget;
DROP TRIGGER users_rehome_backup_slots ON users;
DROP FUNCTION line_backup_slots_rehome;
DROP TRIGGER user_lines_count_truncate ON user_lines;
DROP FUNCTION line_backup_slots_truncate;
DROP TRIGGER user_lines_count_delete ON user_lines;
DROP TRIGGER user_lines_count_update ON user_lines;
DROP TRIGGER user_lines_count_insert ON user_lines;
DROP FUNCTION line_backup_slots_count;
DROP TABLE line_backup_slots;
