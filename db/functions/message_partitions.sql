-- message_partitions keeps messages' day partitions (see the migration that
-- partitioned it): one for each day from p_today - 1 to p_today +
-- p_ahead_days, and none for a day before p_keep_from. p_today is a day on
-- the clock that makes message ids (the replicas'), not lg_now: an id's own
-- time decides its partition. Returns the partitions created and dropped.
--
-- Dropping a partition takes a short exclusive lock on messages; the lock
-- timeout lets the job give up (and try again on its next run) rather than
-- hold sends up behind a long transaction.
CREATE OR REPLACE FUNCTION message_partitions(
    p_today      date,
    p_ahead_days integer,
    p_keep_from  date,
    OUT created  text[],
    OUT dropped  text[]
) LANGUAGE plpgsql AS $$
DECLARE
    d      date;
    v_name text;
BEGIN
    created := '{}';
    dropped := '{}';
    PERFORM set_config('lock_timeout', '2s', true);
    FOR d IN SELECT p_today + g FROM generate_series(-1, p_ahead_days) AS g LOOP
        v_name := 'messages_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(v_name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 85)',
                           v_name, message_id_floor(d::timestamp AT TIME ZONE 'UTC'),
                           message_id_floor((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created || v_name;
        END IF;
    END LOOP;
    FOR v_name IN
        SELECT c.relname::text
          FROM pg_inherits AS i
          JOIN pg_class AS c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'messages'::regclass AND c.relname ~ '^messages_p[0-9]{8}$'
         ORDER BY 1
    LOOP
        IF to_date(substr(v_name, 11), 'YYYYMMDD') < p_keep_from THEN
            EXECUTE format('DROP TABLE %I', v_name);
            dropped := dropped || v_name;
        END IF;
    END LOOP;
END;
$$;
