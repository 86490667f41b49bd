-- +goose Up
-- rl_admit is the whole local admission decision for one outbound send, in
-- one round trip and one transaction: the pair window of every recipient,
-- the loop guard, the line's rolling-24h budget (reply reserve and warm-up
-- included) and the line's usability, in that order. Admitted sends are
-- recorded (pair timestamps, line_volume outbound); a refusal leaves no
-- trace except the loop guard's hit. Times come in as p_now so that tests
-- can drive a fake clock.
--
-- Exactness across replicas: a pair is serialised by its pair_state row
-- lock, a line's budget by a transaction advisory lock taken after the pair
-- rows (always in that order, handles sorted, so no deadlock). PL/pgSQL runs
-- each statement on a fresh snapshot, so the budget sum taken after the lock
-- sees every earlier admission of the line.
--
-- The window is closed: a send exactly p_pair_window old still counts (as
-- Linq's simulator counts it), and the retry hint is floor(wait)+1 seconds,
-- the first whole second at which the oldest send has left the window.
-- +goose StatementBegin
CREATE FUNCTION rl_admit(
    p_line_id      bigint,
    p_handles      text[],
    p_now          timestamptz,
    p_pair_limit   integer,
    p_pair_window  interval,
    p_hit_limit    integer,
    p_hit_window   interval,
    p_quarantine   interval,
    p_budget       integer,
    p_warmup       interval,
    p_reserve      numeric,
    p_reply        boolean,
    p_line_ok      boolean,
    p_units        integer,
    OUT outcome        text,
    OUT retry_after_ms bigint,
    OUT quarantined    boolean,
    OUT budget_used    integer,
    OUT budget_limit   integer
) LANGUAGE plpgsql AS $$
DECLARE
    v_handle    text;
    v_done      text[] := '{}';
    v_sends     timestamptz[];
    v_hits      timestamptz[];
    v_until     timestamptz;
    v_override  integer;
    v_warm      timestamptz;
    v_eff       integer;
    v_minute    timestamptz := date_trunc('minute', p_now);
    v_excess    integer;
    v_free_at   timestamptz;
BEGIN
    outcome := 'ok';
    retry_after_ms := 0;
    quarantined := false;
    budget_used := 0;
    budget_limit := 0;

    -- 1. Pair windows: prune, then append p_now only while the window has
    -- room and the pair is not quarantined. A refused upsert returns no row
    -- but still holds the row lock.
    FOREACH v_handle IN ARRAY p_handles LOOP
        INSERT INTO pair_state AS pw (line_id, handle, sends)
        VALUES (p_line_id, v_handle, ARRAY[p_now])
        ON CONFLICT (line_id, handle) DO UPDATE
            SET sends = ARRAY(SELECT t FROM unnest(pw.sends) AS t WHERE t >= p_now - p_pair_window ORDER BY t) || p_now
            WHERE (pw.quarantined_until IS NULL OR pw.quarantined_until <= p_now)
              AND (SELECT count(*) FROM unnest(pw.sends) AS t WHERE t >= p_now - p_pair_window) < p_pair_limit;
        IF NOT FOUND THEN
            UPDATE pair_state AS pw SET sends = pw.sends[1:cardinality(pw.sends) - 1]
             WHERE pw.line_id = p_line_id AND pw.handle = ANY (v_done);
            SELECT pw.sends, pw.hits, pw.quarantined_until INTO v_sends, v_hits, v_until
              FROM pair_state AS pw WHERE pw.line_id = p_line_id AND pw.handle = v_handle;
            IF v_until IS NOT NULL AND v_until > p_now THEN
                outcome := 'pair_quarantined';
                retry_after_ms := ceil(extract(epoch FROM v_until - p_now) * 1000)::bigint;
                RETURN;
            END IF;
            v_sends := ARRAY(SELECT t FROM unnest(v_sends) AS t WHERE t >= p_now - p_pair_window);
            outcome := 'pair_limit';
            retry_after_ms := ((floor(extract(epoch FROM
                (SELECT min(t) FROM unnest(v_sends) AS t) + p_pair_window - p_now)) + 1) * 1000)::bigint;
            -- Loop guard: a hit counts only when every send in the full window
            -- came after the previous hit, so one burst of refused retries is
            -- one hit, and K full windows in p_hit_window quarantine the pair.
            IF p_hit_limit > 0 THEN
                v_hits := ARRAY(SELECT t FROM unnest(v_hits) AS t WHERE t > p_now - p_hit_window ORDER BY t);
                IF cardinality(v_hits) = 0
                   OR (SELECT max(t) FROM unnest(v_hits) AS t) < (SELECT min(t) FROM unnest(v_sends) AS t) THEN
                    v_hits := v_hits || p_now;
                    IF cardinality(v_hits) >= p_hit_limit THEN
                        quarantined := true;
                        outcome := 'pair_quarantined';
                        retry_after_ms := ceil(extract(epoch FROM p_quarantine) * 1000)::bigint;
                        INSERT INTO pair_quarantines (line_id, handle, hits, started_at, until)
                        VALUES (p_line_id, v_handle, cardinality(v_hits), p_now, p_now + p_quarantine);
                        UPDATE pair_state AS pw SET hits = '{}', quarantined_until = p_now + p_quarantine
                         WHERE pw.line_id = p_line_id AND pw.handle = v_handle;
                        RETURN;
                    END IF;
                    UPDATE pair_state AS pw SET hits = v_hits
                     WHERE pw.line_id = p_line_id AND pw.handle = v_handle;
                END IF;
            END IF;
            RETURN;
        END IF;
        v_done := v_done || v_handle;
    END LOOP;

    -- 2. Line budget, serialised per line. The lock is taken in a statement
    -- of its own (with the line's settings, which need no lock) so that the
    -- next statement's snapshot sees every admission that held it before.
    SELECT l.budget_override, l.warmup_started_at INTO v_override, v_warm
      FROM (SELECT pg_advisory_xact_lock(5020, p_line_id::integer)) AS lk
      LEFT JOIN lines AS l ON l.id = p_line_id;
    IF v_warm IS NULL THEN -- no such line (warmup_started_at is NOT NULL)
        v_override := NULL;
        v_warm := p_now - p_warmup;
        p_line_ok := false;
    END IF;
    v_eff := coalesce(v_override, p_budget);
    IF p_warmup > interval '0' AND p_now < v_warm + p_warmup THEN
        v_eff := floor(v_eff * (0.2 + 0.8 * greatest(extract(epoch FROM p_now - v_warm), 0)
                                        / extract(epoch FROM p_warmup)));
    END IF;
    budget_limit := CASE WHEN p_reply THEN v_eff ELSE v_eff - floor(v_eff * p_reserve)::integer END;
    -- Sum the window and, when the send fits and the line can send, record
    -- it: one statement, one snapshot, under the line's lock (a data-modifying
    -- CTE always runs to completion).
    WITH used AS (
        SELECT coalesce(sum(v.inbound + v.outbound), 0)::integer AS n
          FROM line_volume AS v
         WHERE v.line_id = p_line_id AND v.minute > v_minute - interval '1440 minutes' AND v.minute <= v_minute
    ), rec AS (
        INSERT INTO line_volume AS v (line_id, minute, outbound)
        SELECT p_line_id, v_minute, p_units FROM used WHERE used.n + p_units <= budget_limit AND p_line_ok
        ON CONFLICT (line_id, minute) DO UPDATE SET outbound = v.outbound + excluded.outbound
        RETURNING 1
    )
    SELECT used.n INTO budget_used FROM used;
    IF budget_used + p_units > budget_limit THEN
        UPDATE pair_state AS pw SET sends = pw.sends[1:cardinality(pw.sends) - 1]
         WHERE pw.line_id = p_line_id AND pw.handle = ANY (v_done);
        outcome := 'line_budget';
        -- The send fits once the oldest minutes holding `excess` messages
        -- have left the 24 h window (a minute leaves it 24 h after it began).
        v_excess := budget_used + p_units - budget_limit;
        SELECT c.minute INTO v_free_at
          FROM (SELECT v.minute, sum(v.inbound + v.outbound) OVER (ORDER BY v.minute) AS cum
                  FROM line_volume AS v
                 WHERE v.line_id = p_line_id AND v.minute > v_minute - interval '1440 minutes'
                   AND v.minute <= v_minute) AS c
         WHERE c.cum >= v_excess
         ORDER BY c.minute
         LIMIT 1;
        retry_after_ms := CASE WHEN v_free_at IS NULL THEN 86400000
            ELSE ceil(extract(epoch FROM v_free_at + interval '1440 minutes' - p_now) * 1000)::bigint END;
        RETURN;
    END IF;

    -- 3. The line itself.
    IF NOT p_line_ok THEN
        UPDATE pair_state AS pw SET sends = pw.sends[1:cardinality(pw.sends) - 1]
         WHERE pw.line_id = p_line_id AND pw.handle = ANY (v_done);
        outcome := 'line_unavailable';
        RETURN;
    END IF;

    -- Recorded above.
    budget_used := budget_used + p_units;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION rl_admit;
