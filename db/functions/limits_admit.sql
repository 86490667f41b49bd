-- limits_admit is the whole local admission decision for a set of outbound
-- sends (requests), each to one or more recipients: the pair window of every
-- recipient, the loop guard, the line's policy (line_policy) and its
-- rolling-24h budget, in that order. The requests are decided in the order
-- given, each exactly as if it ran alone after the ones before it. Admitted
-- requests are recorded (pair timestamps, line_volume outbound); a refusal
-- leaves no trace except the loop guard's hit.
--
-- Requests: p_line_ids, p_reply and p_units, one element each. Recipients:
-- p_reqs (the request's number, 1-based) and p_handles, one element each,
-- in request order. Each request is admitted at its own instant, p_ats[k]
-- (the caller's lg_now readings, or, when p_ats is NULL, one lg_now reading
-- plus a microsecond per unit of the requests before it): a pair's
-- timestamps stay distinct, so the restamp on Linq's answer
-- (MessageMarkSent) and the give-back find their own. A request of u units
-- (a send with its continuation text is 2) takes u messages of the line's
-- budget and u stamps in each recipient's window, at p_ats[k], p_ats[k] +
-- 1 µs, …, all or none; the caller leaves those instants to it.
--
-- Cost: a fixed number of statements per call, whatever the number of
-- requests, except for refusals, which work out their retry hint and loop
-- guard one by one. The decision itself runs on the counts read once, in
-- PL/pgSQL variables, so a send costs no statement of its own.
--
-- Exactness across replicas: a line's admissions are serialised by its
-- line_window row lock, taken first (all of the call's lines, in id order),
-- then a pair by its pair_state row lock (in line, handle order), so
-- concurrent calls wait for each other instead of deadlocking; every other
-- writer of a line's volume or pair windows takes the line_window row first
-- too. The counts are read in a statement that starts after the line locks
-- are held, so its snapshot sees every earlier admission of those lines.
-- The rolling 24 h count is line_window's running total (see its
-- migration). Volume is kept by minute, so the window holds every minute
-- that may hold a message of the last 24 h: the 1,440 minutes before this
-- one, and this one. A minute leaves it 24 h after it ended, not after it
-- began (a send at 10:00:59 still counts at 10:00:30 the next day): never
-- fewer messages than Linq counts, at most a minute's more. Moving the
-- total's start to the window's first minute subtracts only the minutes
-- that left the window since the line's previous admission, in a statement
-- of its own, whose fresh snapshot sees every earlier admission of the
-- line.
--
-- The pair window is closed: a send exactly pair_window_ms old still counts
-- (as Linq counts it), and the retry hint is floor(wait)+1 seconds, the
-- first whole second at which the oldest send has left the window. Counts
-- are taken at the call's first instant, which is at most a few
-- microseconds before a later request's own: never fewer sends than Linq
-- sees. A send's stamp is moved to the time Linq answered once it has
-- (MessageMarkSent), so the window never runs ahead of Linq's.
--
-- Plans: generic (custom plans, whose estimates see the array sizes, would
-- be made again on every call), with rows fetched by key in LATERAL
-- subqueries and no sequential scans. PL/pgSQL keeps a connection's plans
-- until a table they read is analyzed again, and a plan made while a table
-- was empty, or looked it, scans the table, reading more at each call as
-- it grows: a join hashes it, and even a lookup by key reads it whole when
-- the statistics say it has no rows (a table analyzed before its first
-- send). The scale run showed both (the pair read, the restamp and the
-- outcome's messages update at 84, 44 and 344 pages a call).
--
-- Moves (p_move_lines, p_move_handles, p_move_from, p_move_to, one element
-- each): sends that are already admitted and are being sent again (a
-- takeover in send_admit_many), whose pair stamp moves from p_move_from to
-- p_move_to, or comes back at p_move_to when it has left the pair's row.
-- Their lines and pairs are locked in the call's ordered passes with the
-- requests' own, and the stamps moved before the decisions, which count
-- them: a caller that moved them before the call would hold a pair while
-- waiting for a line, and deadlock with a writer holding that line.
--
-- s: pair_limit, pair_window_ms, hit_limit (0: no loop guard),
-- hit_window_ms, quarantine_ms and line_policy's settings.
CREATE OR REPLACE FUNCTION limits_admit(
    p_line_ids bigint[],
    p_reply    boolean[],
    p_units    integer[],
    p_reqs     integer[],
    p_handles  text[],
    s          jsonb,
    p_ats      timestamptz[] DEFAULT NULL,
    p_move_lines   bigint[] DEFAULT NULL,
    p_move_handles text[] DEFAULT NULL,
    p_move_from    timestamptz[] DEFAULT NULL,
    p_move_to      timestamptz[] DEFAULT NULL
) RETURNS TABLE (
    req            integer,
    outcome        text,
    retry_after_ms bigint,
    quarantined    boolean,
    budget_used    integer,
    budget_limit   integer,
    why            text,
    admitted_at    timestamptz
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_n          integer := coalesce(cardinality(p_line_ids), 0);
    v_limit      integer := (s ->> 'pair_limit')::integer;
    v_window     interval := (s ->> 'pair_window_ms')::bigint * interval '1 millisecond';
    v_hit_limit  integer := (s ->> 'hit_limit')::integer;
    v_hit_window interval := (s ->> 'hit_window_ms')::bigint * interval '1 millisecond';
    v_quarantine interval := (s ->> 'quarantine_ms')::bigint * interval '1 millisecond';
    v_ats        timestamptz[] := p_ats;
    v_first      timestamptz;
    v_at         timestamptz;
    v_since      timestamptz;
    -- Lines, one slot each (ascending id): the running total and the policy.
    l_ids        bigint[];
    l_since      timestamptz[];
    l_total      bigint[];
    l_may        boolean[];
    l_may_pro    boolean[];
    l_eff        integer[];
    l_pro        integer[];
    l_why        text[];
    -- Pairs, one slot each (line, handle order): sends in the window, and
    -- the end of a quarantine.
    p_keys       text[];
    p_plines     bigint[];
    p_phandles   text[];
    p_cnt        integer[];
    p_until      timestamptz[];
    -- The answer, one element per request.
    o_outcome    text[];
    o_retry      bigint[];
    o_quar       boolean[];
    o_used       integer[];
    o_limit      integer[];
    o_why        text[];
    o_pslot      integer[];
    -- Admitted recipients, for the writes.
    a_lines      bigint[] := '{}';
    a_handles    text[] := '{}';
    a_ats        timestamptz[] := '{}';
    a_units      integer[] := '{}';
    k            integer;
    -- j walks the recipients; j0 is the current request's first.
    j            integer := 1;
    j0           integer;
    ls           integer;
    ps           integer;
    v_units      integer;
    v_lim        integer;
    v_sends      timestamptz[];
    v_hits       timestamptz[];
    v_until      timestamptz;
    v_total      bigint;
    v_excess     integer;
    v_free_at    timestamptz;
    v_moved      integer;
BEGIN
    IF v_n = 0 AND coalesce(cardinality(p_move_lines), 0) = 0 THEN
        RETURN;
    END IF;
    IF v_ats IS NULL THEN
        v_first := lg_now();
        v_at := v_first;
        FOR k IN 1 .. v_n LOOP
            v_ats[k] := v_at;
            v_at := v_at + coalesce(p_units[k], 1) * interval '1 microsecond';
        END LOOP;
    END IF;
    v_first := coalesce(v_ats[1], lg_now()); -- a call with moves alone has no request
    v_since := date_trunc('minute', v_first) - interval '1440 minutes';

    -- 1. The lines: their budget locks (in id order), running totals and
    -- policies. Slots are found by array_position, so the arrays need no
    -- order of their own (and array_agg without ORDER BY is cheap to set
    -- up; all of them see the rows in one order). Each row is fetched by
    -- its key inside a LATERAL subquery: a nested loop of key lookups
    -- whatever the statistics the connection's cached plan was made from
    -- (see the function's header).
    SELECT array_agg(x.line_id), array_agg(x.since), array_agg(x.total), array_agg(x.may_send),
           array_agg(x.may_send_proactive), array_agg(x.effective_budget), array_agg(x.proactive_budget),
           array_agg(x.why)
      INTO l_ids, l_since, l_total, l_may, l_may_pro, l_eff, l_pro, l_why
      FROM (SELECT q.id FROM unnest(p_line_ids) AS q(id)
            UNION
            SELECT m.id FROM unnest(p_move_lines) AS m(id)
             ORDER BY 1) AS k
     CROSS JOIN LATERAL (
            SELECT w.line_id, w.since, w.total, p.may_send, p.may_send_proactive, p.effective_budget,
                   p.proactive_budget, p.why
              FROM line_window AS w
              JOIN lines AS l ON l.id = w.line_id
             CROSS JOIN LATERAL line_policy(l, s, v_first) AS p
             WHERE w.line_id = k.id
               FOR UPDATE OF w) AS x;
    l_ids := coalesce(l_ids, '{}');

    -- Minutes that left the window go out of the total (or, should the
    -- clock have gone back, come back in): once a minute per line.
    FOR ls IN 1 .. cardinality(l_ids) LOOP
        IF l_since[ls] <> v_since THEN
            UPDATE line_window AS w
               SET since = v_since,
                   total = w.total
                       - coalesce((SELECT sum(v.inbound + v.outbound) FROM line_volume AS v
                                    WHERE v.line_id = l_ids[ls] AND v.minute >= w.since AND v.minute < v_since), 0)
                       + coalesce((SELECT sum(v.inbound + v.outbound) FROM line_volume AS v
                                    WHERE v.line_id = l_ids[ls] AND v.minute >= v_since AND v.minute < w.since), 0)
             WHERE w.line_id = l_ids[ls]
            RETURNING w.total INTO v_total;
            l_total[ls] := v_total;
        END IF;
    END LOOP;

    -- 2. The pairs: their locks (in line, handle order), and the sends in
    -- each window. A slot for every pair of the call, with or without a
    -- row yet. Fetched by key in a LATERAL subquery, as the lines are.
    SELECT array_agg(x.line_id || ':' || x.handle), array_agg(x.line_id), array_agg(x.handle),
           array_agg(x.cnt), array_agg(x.until)
      INTO p_keys, p_plines, p_phandles, p_cnt, p_until
      FROM (SELECT p_line_ids[q.q] AS line_id, q.handle FROM unnest(p_reqs, p_handles) AS q(q, handle)
            UNION
            SELECT m.line_id, m.handle FROM unnest(p_move_lines, p_move_handles) AS m(line_id, handle)
             ORDER BY 1, 2) AS k
     CROSS JOIN LATERAL (
            SELECT pw.line_id, pw.handle, pw.quarantined_until AS until,
                   (SELECT count(*) FROM unnest(pw.sends) AS t WHERE t >= v_first - v_window)::integer AS cnt
              FROM pair_state AS pw
             WHERE pw.line_id = k.line_id AND pw.handle = k.handle
               FOR UPDATE OF pw) AS x;
    p_keys := coalesce(p_keys, '{}');
    -- The moves, now that their pairs are held; the decisions count them.
    -- A pair whose row the cleanup dropped (nothing was left in its
    -- window) gets it back with the moved stamp: the line's lock, held,
    -- keeps every other writer of the pair out.
    FOR mv IN 1 .. coalesce(cardinality(p_move_lines), 0) LOOP
        UPDATE pair_state AS pw
           SET sends = CASE WHEN p_move_from[mv] = ANY (pw.sends)
                            THEN array_replace(pw.sends, p_move_from[mv], p_move_to[mv])
                            ELSE pw.sends || p_move_to[mv] END
         WHERE pw.line_id = p_move_lines[mv] AND pw.handle = p_move_handles[mv]
        RETURNING (SELECT count(*) FROM unnest(pw.sends) AS t WHERE t >= v_first - v_window)::integer INTO v_moved;
        IF NOT FOUND THEN
            INSERT INTO pair_state AS pw (line_id, handle, sends)
            VALUES (p_move_lines[mv], p_move_handles[mv], ARRAY[p_move_to[mv]])
            ON CONFLICT (line_id, handle) DO UPDATE SET sends = pw.sends || excluded.sends
            RETURNING (SELECT count(*) FROM unnest(pw.sends) AS t WHERE t >= v_first - v_window)::integer INTO v_moved;
        END IF;
        ps := array_position(p_keys, p_move_lines[mv] || ':' || p_move_handles[mv]);
        IF ps IS NULL THEN
            ps := cardinality(p_keys) + 1;
            p_keys[ps] := p_move_lines[mv] || ':' || p_move_handles[mv];
            p_plines[ps] := p_move_lines[mv];
            p_phandles[ps] := p_move_handles[mv];
            p_until[ps] := NULL;
        END IF;
        p_cnt[ps] := v_moved;
    END LOOP;
    FOR rh IN 1 .. cardinality(p_reqs) LOOP
        IF array_position(p_keys, p_line_ids[p_reqs[rh]] || ':' || p_handles[rh]) IS NULL THEN
            ps := cardinality(p_keys) + 1;
            p_keys[ps] := p_line_ids[p_reqs[rh]] || ':' || p_handles[rh];
            p_plines[ps] := p_line_ids[p_reqs[rh]];
            p_phandles[ps] := p_handles[rh];
            p_cnt[ps] := 0;
            p_until[ps] := NULL;
        END IF;
    END LOOP;

    -- 3. The decisions, in request order, on the counts just read.
    o_outcome := array_fill('ok'::text, ARRAY[v_n]);
    o_retry := array_fill(0::bigint, ARRAY[v_n]);
    o_quar := array_fill(false, ARRAY[v_n]);
    o_used := array_fill(0, ARRAY[v_n]);
    o_limit := array_fill(0, ARRAY[v_n]);
    o_why := array_fill(''::text, ARRAY[v_n]);
    o_pslot := array_fill(NULL::integer, ARRAY[v_n]);
    FOR k IN 1 .. v_n LOOP
        v_at := v_ats[k];
        v_units := coalesce(p_units[k], 1);
        j0 := j;
        -- The pair windows, recipient by recipient: the first that is
        -- quarantined or full refuses the request.
        WHILE j <= cardinality(p_reqs) AND p_reqs[j] = k LOOP
            IF o_outcome[k] = 'ok' THEN
                ps := array_position(p_keys, p_line_ids[k] || ':' || p_handles[j]);
                IF p_until[ps] IS NOT NULL AND p_until[ps] > v_at THEN
                    o_outcome[k] := 'pair_quarantined';
                    o_pslot[k] := ps;
                ELSIF p_cnt[ps] + v_units > v_limit THEN
                    o_outcome[k] := 'pair_limit';
                    o_pslot[k] := ps;
                END IF;
            END IF;
            j := j + 1;
        END LOOP;
        CONTINUE WHEN o_outcome[k] <> 'ok';

        -- The line's policy.
        ls := array_position(l_ids, p_line_ids[k]);
        IF ls IS NULL OR l_may[ls] IS NULL OR NOT l_may[ls] OR (NOT coalesce(p_reply[k], false) AND NOT l_may_pro[ls]) THEN
            o_outcome[k] := 'line_unavailable';
            o_why[k] := coalesce(nullif(l_why[ls], ''), 'line_not_found');
            CONTINUE;
        END IF;
        o_why[k] := l_why[ls];
        v_lim := CASE WHEN coalesce(p_reply[k], false) THEN l_eff[ls] ELSE l_pro[ls] END;
        o_limit[k] := v_lim;
        o_used[k] := l_total[ls];

        -- The budget.
        IF l_total[ls] + v_units > v_lim THEN
            o_outcome[k] := 'line_budget';
            CONTINUE;
        END IF;
        l_total[ls] := l_total[ls] + v_units;
        o_used[k] := l_total[ls];
        -- Its recipients' windows take its units (a stamp each, a
        -- microsecond apart); the line's minute counts them once (on its
        -- last recipient's first stamp, at v_at).
        FOR rh IN j0 .. j - 1 LOOP
            ps := array_position(p_keys, p_line_ids[k] || ':' || p_handles[rh]);
            p_cnt[ps] := p_cnt[ps] + v_units;
            FOR u IN 0 .. v_units - 1 LOOP
                a_lines := a_lines || p_line_ids[k];
                a_handles := a_handles || p_handles[rh];
                a_ats := a_ats || (v_at + u * interval '1 microsecond');
                a_units := a_units || CASE WHEN rh = j - 1 AND u = 0 THEN v_units ELSE 0 END;
            END LOOP;
        END LOOP;
    END LOOP;

    -- 4. Record what was admitted: the pair stamps (a window pruned as it
    -- is written), then the volume (line_volume's trigger adds it to the
    -- total).
    IF cardinality(a_lines) > 0 THEN
        INSERT INTO pair_state AS pw (line_id, handle, sends)
        SELECT a.line_id, a.handle, array_agg(a.at ORDER BY a.at)
          FROM unnest(a_lines, a_handles, a_ats) AS a(line_id, handle, at)
         GROUP BY a.line_id, a.handle
         ORDER BY a.line_id, a.handle
        ON CONFLICT (line_id, handle) DO UPDATE
            SET sends = ARRAY(SELECT t FROM unnest(pw.sends) AS t WHERE t >= v_first - v_window ORDER BY t)
                        || excluded.sends;
        INSERT INTO line_volume AS v (line_id, minute, outbound)
        SELECT a.line_id, date_trunc('minute', a.at), sum(a.units)
          FROM unnest(a_lines, a_ats, a_units) AS a(line_id, at, units)
         GROUP BY a.line_id, date_trunc('minute', a.at)
        HAVING sum(a.units) > 0
         ORDER BY 1, 2
        ON CONFLICT (line_id, minute) DO UPDATE SET outbound = v.outbound + excluded.outbound;
    END IF;

    -- 5. The refusals' retry hints and the loop guard, one by one.
    FOR k IN 1 .. v_n LOOP
        CONTINUE WHEN o_outcome[k] = 'ok' OR o_outcome[k] = 'line_unavailable';
        v_at := v_ats[k];
        IF o_outcome[k] = 'pair_quarantined' THEN
            o_retry[k] := ceil(extract(epoch FROM p_until[o_pslot[k]] - v_at) * 1000)::bigint;
        ELSIF o_outcome[k] = 'pair_limit' THEN
            ps := o_pslot[k];
            SELECT pw.sends, pw.hits, pw.quarantined_until INTO v_sends, v_hits, v_until
              FROM pair_state AS pw
             WHERE pw.line_id = p_plines[ps] AND pw.handle = p_phandles[ps];
            IF v_until IS NOT NULL AND v_until > v_at THEN
                -- Quarantined by a request before this one.
                o_outcome[k] := 'pair_quarantined';
                o_retry[k] := ceil(extract(epoch FROM v_until - v_at) * 1000)::bigint;
                CONTINUE;
            END IF;
            -- The request fits once the oldest sends that leave no room
            -- for its units have left the window.
            v_sends := ARRAY(SELECT t FROM unnest(v_sends) AS t WHERE t >= v_at - v_window ORDER BY t);
            -- (None in the window: more units than the limit, which
            -- never fit; a window's wait.)
            o_retry[k] := coalesce(((floor(extract(epoch FROM
                v_sends[greatest(1, least(cardinality(v_sends), cardinality(v_sends) + coalesce(p_units[k], 1) - v_limit))]
                + v_window - v_at)) + 1) * 1000)::bigint, (s ->> 'pair_window_ms')::bigint);
            -- Loop guard: a hit counts only when every send in the full
            -- window came after the previous hit, so one burst of refused
            -- retries is one hit, and hit_limit full windows in hit_window
            -- quarantine.
            IF v_hit_limit > 0 THEN
                v_hits := ARRAY(SELECT t FROM unnest(v_hits) AS t WHERE t > v_at - v_hit_window ORDER BY t);
                IF cardinality(v_hits) = 0
                   OR (SELECT max(t) FROM unnest(v_hits) AS t) < (SELECT min(t) FROM unnest(v_sends) AS t) THEN
                    v_hits := v_hits || v_at;
                    IF cardinality(v_hits) >= v_hit_limit THEN
                        o_quar[k] := true;
                        o_outcome[k] := 'pair_quarantined';
                        o_retry[k] := ceil(extract(epoch FROM v_quarantine) * 1000)::bigint;
                        INSERT INTO pair_quarantines (line_id, handle, hits, started_at, until)
                        VALUES (p_plines[ps], p_phandles[ps], cardinality(v_hits), v_at, v_at + v_quarantine);
                        UPDATE pair_state AS pw SET hits = '{}', quarantined_until = v_at + v_quarantine
                         WHERE pw.line_id = p_plines[ps] AND pw.handle = p_phandles[ps];
                    ELSE
                        UPDATE pair_state AS pw SET hits = v_hits
                         WHERE pw.line_id = p_plines[ps] AND pw.handle = p_phandles[ps];
                    END IF;
                END IF;
            END IF;
        ELSIF o_outcome[k] = 'line_budget' THEN
            -- The send fits once the oldest minutes holding `excess`
            -- messages have left the window (a minute leaves it 24 h
            -- after it ended, 1,441 minutes after it began).
            v_excess := o_used[k] + coalesce(p_units[k], 1) - o_limit[k];
            SELECT c.minute INTO v_free_at
              FROM (SELECT v.minute, sum(v.inbound + v.outbound) OVER (ORDER BY v.minute) AS cum
                      FROM line_volume AS v
                     WHERE v.line_id = p_line_ids[k] AND v.minute >= date_trunc('minute', v_at) - interval '1440 minutes'
                       AND v.minute <= date_trunc('minute', v_at)) AS c
             WHERE c.cum >= v_excess
             ORDER BY c.minute
             LIMIT 1;
            o_retry[k] := CASE WHEN v_free_at IS NULL THEN 86400000
                ELSE ceil(extract(epoch FROM v_free_at + interval '1441 minutes' - v_at) * 1000)::bigint END;
        END IF;
    END LOOP;

    FOR k IN 1 .. v_n LOOP
        req := k;
        outcome := o_outcome[k];
        retry_after_ms := o_retry[k];
        quarantined := o_quar[k];
        budget_used := o_used[k];
        budget_limit := o_limit[k];
        why := o_why[k];
        admitted_at := v_ats[k];
        RETURN NEXT;
    END LOOP;
END;
$$;
