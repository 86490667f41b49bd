-- limits_admit is the whole local admission decision for one outbound
-- send, in one statement: the pair window of every recipient, the loop
-- guard, the line's policy (line_policy) and its rolling-24h budget, in that
-- order. Admitted sends are recorded (pair timestamps, line_volume
-- outbound); a refusal leaves no trace except the loop guard's hit. The
-- time is the database's (lg_now, or p_at: the lg_now reading of a caller
-- in the same statement), returned as admitted_at.
--
-- Exactness across replicas: a pair is serialised by its pair_state row
-- lock, a line's budget by a transaction advisory lock (keyed by the
-- budget_lock setting, store.AdvisoryKey, mixed with the line id) taken
-- after the pair rows (always in that order, handles sorted, so no
-- deadlock). PL/pgSQL runs each statement on a fresh snapshot, so the
-- budget sum taken after the lock sees every earlier admission of the line.
--
-- The window is closed: a send exactly pair_window_ms old still counts (as
-- Linq counts it), and the retry hint is floor(wait)+1 seconds, the first
-- whole second at which the oldest send has left the window. A send's
-- stamp is moved to the time Linq answered once it has (MessageMarkSent),
-- so the window never runs ahead of Linq's.
--
-- s: pair_limit, pair_window_ms, hit_limit (0: no loop guard),
-- hit_window_ms, quarantine_ms, budget_lock and line_policy's settings.
CREATE OR REPLACE FUNCTION limits_admit(
    p_line_id bigint,
    p_handles text[],
    s         jsonb,
    p_reply   boolean DEFAULT false,
    p_units   integer DEFAULT 1,
    p_at      timestamptz DEFAULT NULL,
    OUT outcome        text,
    OUT retry_after_ms bigint,
    OUT quarantined    boolean,
    OUT budget_used    integer,
    OUT budget_limit   integer,
    OUT why            text,
    OUT admitted_at    timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    v_now        timestamptz := coalesce(p_at, lg_now());
    v_limit      integer := (s ->> 'pair_limit')::integer;
    v_window     interval := (s ->> 'pair_window_ms')::bigint * interval '1 millisecond';
    v_hit_limit  integer := (s ->> 'hit_limit')::integer;
    v_hit_window interval := (s ->> 'hit_window_ms')::bigint * interval '1 millisecond';
    v_quarantine interval := (s ->> 'quarantine_ms')::bigint * interval '1 millisecond';
    v_handle     text;
    v_done       text[] := '{}';
    v_sends      timestamptz[];
    v_hits       timestamptz[];
    v_until      timestamptz;
    v_pol        record;
    v_minute     timestamptz := date_trunc('minute', v_now);
    v_excess     integer;
    v_free_at    timestamptz;
BEGIN
    outcome := 'ok';
    retry_after_ms := 0;
    quarantined := false;
    budget_used := 0;
    budget_limit := 0;
    why := '';
    admitted_at := v_now;

    -- 1. Pair windows: prune, then append now only while the window has
    -- room and the pair is not quarantined. A refused upsert returns no row
    -- but still holds the row lock.
    FOREACH v_handle IN ARRAY p_handles LOOP
        INSERT INTO pair_state AS pw (line_id, handle, sends)
        VALUES (p_line_id, v_handle, ARRAY[v_now])
        ON CONFLICT (line_id, handle) DO UPDATE
            SET sends = ARRAY(SELECT t FROM unnest(pw.sends) AS t WHERE t >= v_now - v_window ORDER BY t) || v_now
            WHERE (pw.quarantined_until IS NULL OR pw.quarantined_until <= v_now)
              AND (SELECT count(*) FROM unnest(pw.sends) AS t WHERE t >= v_now - v_window) < v_limit;
        IF NOT FOUND THEN
            UPDATE pair_state AS pw SET sends = pw.sends[1:cardinality(pw.sends) - 1]
             WHERE pw.line_id = p_line_id AND pw.handle = ANY (v_done);
            SELECT pw.sends, pw.hits, pw.quarantined_until INTO v_sends, v_hits, v_until
              FROM pair_state AS pw WHERE pw.line_id = p_line_id AND pw.handle = v_handle;
            IF v_until IS NOT NULL AND v_until > v_now THEN
                outcome := 'pair_quarantined';
                retry_after_ms := ceil(extract(epoch FROM v_until - v_now) * 1000)::bigint;
                RETURN;
            END IF;
            v_sends := ARRAY(SELECT t FROM unnest(v_sends) AS t WHERE t >= v_now - v_window);
            outcome := 'pair_limit';
            retry_after_ms := ((floor(extract(epoch FROM
                (SELECT min(t) FROM unnest(v_sends) AS t) + v_window - v_now)) + 1) * 1000)::bigint;
            -- Loop guard: a hit counts only when every send in the full window
            -- came after the previous hit, so one burst of refused retries is
            -- one hit, and hit_limit full windows in hit_window quarantine.
            IF v_hit_limit > 0 THEN
                v_hits := ARRAY(SELECT t FROM unnest(v_hits) AS t WHERE t > v_now - v_hit_window ORDER BY t);
                IF cardinality(v_hits) = 0
                   OR (SELECT max(t) FROM unnest(v_hits) AS t) < (SELECT min(t) FROM unnest(v_sends) AS t) THEN
                    v_hits := v_hits || v_now;
                    IF cardinality(v_hits) >= v_hit_limit THEN
                        quarantined := true;
                        outcome := 'pair_quarantined';
                        retry_after_ms := ceil(extract(epoch FROM v_quarantine) * 1000)::bigint;
                        INSERT INTO pair_quarantines (line_id, handle, hits, started_at, until)
                        VALUES (p_line_id, v_handle, cardinality(v_hits), v_now, v_now + v_quarantine);
                        UPDATE pair_state AS pw SET hits = '{}', quarantined_until = v_now + v_quarantine
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

    -- 2. The line's policy, read under the line's budget lock. The lock is
    -- taken in a statement of its own so that the next statement's snapshot
    -- sees every admission that held it before.
    SELECT p.* INTO v_pol
      FROM (SELECT pg_advisory_xact_lock(hashint8extended(p_line_id, (s ->> 'budget_lock')::bigint))) AS lk
      LEFT JOIN lines AS l ON l.id = p_line_id
      LEFT JOIN LATERAL line_policy(l, s, v_now) AS p ON true;
    IF v_pol.may_send IS NULL OR NOT v_pol.may_send OR (NOT p_reply AND NOT v_pol.may_send_proactive) THEN
        UPDATE pair_state AS pw SET sends = pw.sends[1:cardinality(pw.sends) - 1]
         WHERE pw.line_id = p_line_id AND pw.handle = ANY (v_done);
        outcome := 'line_unavailable';
        why := coalesce(nullif(v_pol.why, ''), 'line_not_found');
        RETURN;
    END IF;
    why := v_pol.why;
    budget_limit := CASE WHEN p_reply THEN v_pol.effective_budget ELSE v_pol.proactive_budget END;

    -- 3. The budget: sum the window and, when the send fits, record it: one
    -- statement, one snapshot, under the line's lock (a data-modifying CTE
    -- always runs to completion).
    WITH used AS (
        SELECT coalesce(sum(v.inbound + v.outbound), 0)::integer AS n
          FROM line_volume AS v
         WHERE v.line_id = p_line_id AND v.minute > v_minute - interval '1440 minutes' AND v.minute <= v_minute
    ), rec AS (
        INSERT INTO line_volume AS v (line_id, minute, outbound)
        SELECT p_line_id, v_minute, p_units FROM used WHERE used.n + p_units <= budget_limit
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
            ELSE ceil(extract(epoch FROM v_free_at + interval '1440 minutes' - v_now) * 1000)::bigint END;
        RETURN;
    END IF;

    -- Recorded above.
    budget_used := budget_used + p_units;
END;
$$;
