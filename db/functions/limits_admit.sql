-- limits_admit is the whole local admission decision for one outbound
-- send, in one statement: the pair window of every recipient, the loop
-- guard, the line's policy (line_policy) and its rolling-24h budget, in that
-- order. Admitted sends are recorded (pair timestamps, line_volume
-- outbound); a refusal leaves no trace except the loop guard's hit. The
-- time is the database's (lg_now, or p_at: the lg_now reading of a caller
-- in the same statement), returned as admitted_at.
--
-- Exactness across replicas: a line's admissions are serialised by its
-- line_window row lock, taken first, and a pair by its pair_state row lock
-- (always in that order, handles sorted, so no deadlock; every other writer
-- of a line's volume or pair windows takes the line_window row first too).
-- The rolling 24 h count is line_window's running total (see its
-- migration): moving its start to this minute subtracts only the minutes
-- that left the window since the line's previous admission, in a statement
-- of its own, whose fresh snapshot sees every earlier admission of the
-- line.
--
-- The window is closed: a send exactly pair_window_ms old still counts (as
-- Linq counts it), and the retry hint is floor(wait)+1 seconds, the first
-- whole second at which the oldest send has left the window. A send's
-- stamp is moved to the time Linq answered once it has (MessageMarkSent),
-- so the window never runs ahead of Linq's.
--
-- s: pair_limit, pair_window_ms, hit_limit (0: no loop guard),
-- hit_window_ms, quarantine_ms and line_policy's settings.
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
    v_since      timestamptz := date_trunc('minute', v_now) - interval '1439 minutes';
    v_total      bigint;
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

    -- 1. The line: its budget lock, its running total and its policy.
    SELECT w.since AS wsince, w.total AS wtotal, p.*
      INTO v_pol
      FROM line_window AS w
      JOIN lines AS l ON l.id = w.line_id
     CROSS JOIN LATERAL line_policy(l, s, v_now) AS p
     WHERE w.line_id = p_line_id
       FOR UPDATE OF w;
    IF FOUND THEN
        v_total := v_pol.wtotal;
        IF v_pol.wsince <> v_since THEN
            -- Minutes that left the window go out of the total (or, should
            -- the clock have gone back, come back in).
            UPDATE line_window AS w
               SET since = v_since,
                   total = w.total
                       - coalesce((SELECT sum(v.inbound + v.outbound) FROM line_volume AS v
                                    WHERE v.line_id = p_line_id AND v.minute >= w.since AND v.minute < v_since), 0)
                       + coalesce((SELECT sum(v.inbound + v.outbound) FROM line_volume AS v
                                    WHERE v.line_id = p_line_id AND v.minute >= v_since AND v.minute < w.since), 0)
             WHERE w.line_id = p_line_id
            RETURNING w.total INTO v_total;
        END IF;
    END IF;

    -- 2. Pair windows: prune, then append now only while the window has
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

    -- 3. The line's policy.
    IF v_pol.may_send IS NULL OR NOT v_pol.may_send OR (NOT p_reply AND NOT v_pol.may_send_proactive) THEN
        UPDATE pair_state AS pw SET sends = pw.sends[1:cardinality(pw.sends) - 1]
         WHERE pw.line_id = p_line_id AND pw.handle = ANY (v_done);
        outcome := 'line_unavailable';
        why := coalesce(nullif(v_pol.why, ''), 'line_not_found');
        RETURN;
    END IF;
    why := v_pol.why;
    budget_limit := CASE WHEN p_reply THEN v_pol.effective_budget ELSE v_pol.proactive_budget END;

    -- 4. The budget: the running total, and when the send fits, record it
    -- (line_volume's trigger adds it to the total).
    budget_used := v_total;
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

    INSERT INTO line_volume AS v (line_id, minute, outbound)
    VALUES (p_line_id, v_minute, p_units)
    ON CONFLICT (line_id, minute) DO UPDATE SET outbound = v.outbound + excluded.outbound;
    budget_used := budget_used + p_units;
END;
$$;
