-- send_admit_many takes a batch of concurrent POST /v1/messages from
-- request to "call Linq now" in one statement and one commit (group
-- commit). Each send gets its own answer, numbered n (1-based, the order
-- given), exactly as if it had run alone after the sends before it: the
-- idempotency key (replay, reuse with another body, a duplicate in flight,
-- or taking over a send whose outcome is unknown), the user, their current
-- line and chat, the opt-out gate, then limits_admit. When the outcome is
-- 'ok' a messages row in state pending holds the key; a refused first
-- attempt leaves nothing behind, so it does not consume its key.
--
-- A takeover (the key's earlier attempt failed with an unknown outcome, or
-- its lease ran out) resends the same message: same id (hence the same Linq
-- key), same line, handle and chat, and the slot the first attempt took.
-- It does not go through the limits again: Linq may hold the message
-- already, and then it answers the resend with it. Its pair stamp moves to
-- now (or is added back when it has left the window).
--
-- The sends run in the order of the locks they take: by line, then handle,
-- then key. Every batch, on every replica, so takes the line_window rows in
-- ascending line order and a line's pair rows in handle order, and two
-- batches wait for each other instead of deadlocking. An empty user_ref or
-- handle stands for none.
--
-- Outcomes: ok, replay, key_reused, in_progress, user_not_found, no_handle,
-- opted_out, and limits_admit's pair_limit, pair_quarantined, line_budget,
-- line_unavailable. s: lease_ms, keep_ms, reply_window_ms and
-- limits_admit's settings.
--
-- One function, not a loop calling a per-send one: each nested PL/pgSQL
-- call costs about as much as two of the statements it runs. Generic plans:
-- the custom plans PL/pgSQL would otherwise choose (their estimates see the
-- array sizes) are planned again on every call.
CREATE OR REPLACE FUNCTION send_admit_many(
    p_ids         uuid[],
    p_api_key_ids bigint[],
    p_keys        text[],
    p_hashes      bytea[],
    p_user_refs   text[],
    p_handles     text[],
    p_intents     text[],
    p_bodies      jsonb[],
    s             jsonb
) RETURNS TABLE (
    n               integer,
    outcome         text,
    takeover        boolean,
    message_id      uuid,
    user_id         bigint,
    user_ref        text,
    handle          text,
    line_id         bigint,
    line_number     text,
    chat_id         text,
    retry_after_ms  bigint,
    quarantined     boolean,
    why             text,
    linq_message_id text,
    trace_id        text,
    delivery_status text,
    admitted_at     timestamptz,
    lease_until     timestamptz
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    r       record;
    v_now   timestamptz;
    v_lease interval := (s ->> 'lease_ms')::bigint * interval '1 millisecond';
    v_keep  interval := (s ->> 'keep_ms')::bigint * interval '1 millisecond';
    v_reply_window interval := (s ->> 'reply_window_ms')::bigint * interval '1 millisecond';
    v_msg   record;
    v_found boolean;
    v_new   boolean;
    v_rl    record;
BEGIN
    -- The user, their current line and their chat on it are read with the
    -- batch (a plain read, as a send alone reads them).
    FOR r IN
        SELECT i.*, u.id AS uid, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at, u.last_inbound_at,
               u.current_line_id AS lid, l.number AS lnumber, c.linq_chat_id AS chat
          FROM (SELECT x.id, x.api_key_id, x.key, x.hash, nullif(x.user_ref, '') AS user_ref,
                       nullif(x.handle, '') AS handle, x.intent, x.body, x.k
                  FROM unnest(p_ids, p_api_key_ids, p_keys, p_hashes, p_user_refs, p_handles, p_intents, p_bodies)
                       WITH ORDINALITY AS x(id, api_key_id, key, hash, user_ref, handle, intent, body, k)) AS i
          -- Two branches, not one with an OR, so that each keeps its index.
          LEFT JOIN LATERAL (
                SELECT ur.* FROM users AS ur WHERE ur.user_ref = i.user_ref
                UNION ALL
                SELECT uh.* FROM users AS uh WHERE i.user_ref IS NULL AND uh.handle = i.handle
          ) AS u ON true
          LEFT JOIN lines AS l ON l.id = u.current_line_id
          LEFT JOIN chats AS c ON c.user_id = u.id AND c.line_id = u.current_line_id
         ORDER BY u.current_line_id NULLS LAST, u.handle, i.key
    LOOP
        v_now := lg_now();
        n := r.k;
        outcome := 'ok';
        takeover := false;
        message_id := r.id;
        user_id := NULL;
        user_ref := NULL;
        handle := NULL;
        line_id := NULL;
        line_number := NULL;
        chat_id := NULL;
        retry_after_ms := 0;
        quarantined := false;
        why := '';
        linq_message_id := NULL;
        trace_id := NULL;
        delivery_status := NULL;
        admitted_at := v_now;
        lease_until := v_now + v_lease;
        v_found := r.uid IS NOT NULL AND r.lnumber IS NOT NULL;
        v_new := false;

        -- Reserve the key before taking any limit, so that concurrent
        -- duplicates wait here on the unique index instead of both
        -- admitting. (message_keys holds the keys: messages is partitioned
        -- by day, and a unique index cannot span partitions.)
        IF v_found AND r.uhandle IS NOT NULL THEN
            INSERT INTO message_keys (api_key_id, idempotency_key, message_id, expires_at)
            VALUES (r.api_key_id, r.key, r.id, v_now + v_keep)
            ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
            v_new := FOUND;
            IF v_new THEN
                INSERT INTO messages (id, api_key_id, idempotency_key, request_hash,
                                      user_id, line_id, handle, intent, state, lease_until, admitted_at, body,
                                      created_at, updated_at)
                VALUES (r.id, r.api_key_id, r.key, r.hash,
                        r.uid, r.lid, r.uhandle, r.intent, 'pending', v_now + v_lease, v_now, r.body,
                        v_now, v_now);
            END IF;
        END IF;

        IF NOT v_new THEN
            -- A key seen before.
            SELECT m.id, m.request_hash, m.state, m.lease_until AS lease, m.user_id AS uid, m.line_id AS lid,
                   m.linq_chat_id, m.linq_message_id, m.trace_id, m.delivery_status, m.admitted_at AS at, m.handle,
                   u.user_ref AS uref, l.number AS lnumber, c.linq_chat_id AS chat
              INTO v_msg
              FROM message_keys AS k
              JOIN messages AS m ON m.id = k.message_id
              LEFT JOIN users AS u ON u.id = m.user_id
              LEFT JOIN lines AS l ON l.id = m.line_id
              LEFT JOIN chats AS c ON c.user_id = m.user_id AND c.line_id = m.line_id
             WHERE k.api_key_id = r.api_key_id AND k.idempotency_key = r.key
               FOR UPDATE OF m;
            IF FOUND THEN
                message_id := v_msg.id;
                user_id := v_msg.uid;
                user_ref := v_msg.uref;
                handle := v_msg.handle;
                line_id := v_msg.lid;
                line_number := v_msg.lnumber;
                IF v_msg.request_hash IS DISTINCT FROM r.hash THEN
                    outcome := 'key_reused';
                ELSIF v_msg.state = 'sent' THEN
                    outcome := 'replay';
                    chat_id := v_msg.linq_chat_id;
                    linq_message_id := v_msg.linq_message_id;
                    trace_id := v_msg.trace_id;
                    delivery_status := v_msg.delivery_status;
                    admitted_at := v_msg.at;
                ELSIF v_msg.state = 'pending' AND v_msg.lease > v_now THEN
                    outcome := 'in_progress';
                    lease_until := v_msg.lease;
                ELSE
                    -- Outcome unknown, or a pending send whose replica
                    -- died: send the same message again, reusing its slot.
                    takeover := true;
                    chat_id := v_msg.chat;
                    UPDATE pair_state AS pw
                       SET sends = CASE WHEN v_msg.at = ANY (pw.sends)
                                        THEN array_replace(pw.sends, v_msg.at, v_now)
                                        ELSE pw.sends || v_now END
                     WHERE pw.line_id = v_msg.lid AND pw.handle = v_msg.handle;
                    UPDATE messages AS m
                       SET state = 'pending', lease_until = v_now + v_lease, admitted_at = v_now, updated_at = v_now,
                           body = coalesce(m.body, r.body)
                     WHERE m.id = v_msg.id;
                END IF;
            ELSIF NOT v_found THEN
                outcome := 'user_not_found';
            ELSE
                user_id := r.uid;
                user_ref := r.uref;
                line_id := r.lid;
                line_number := r.lnumber;
                chat_id := r.chat;
                IF r.uhandle IS NULL THEN
                    outcome := 'no_handle';
                ELSE
                    -- The insert met a duplicate that is gone again (its
                    -- first attempt was refused): the caller asks again, as
                    -- for one in flight.
                    outcome := 'in_progress';
                    lease_until := v_now;
                END IF;
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;

        user_id := r.uid;
        user_ref := r.uref;
        handle := r.uhandle;
        line_id := r.lid;
        line_number := r.lnumber;
        chat_id := r.chat;
        -- Opt-out, then the limits and the line.
        IF r.opted_out_at IS NOT NULL THEN
            outcome := 'opted_out';
        ELSE
            -- The same instant as the message's admitted_at: it is the pair
            -- stamp the give-back and the restamp on Linq's answer look for.
            SELECT * INTO v_rl
              FROM limits_admit(r.lid, ARRAY[r.uhandle], s,
                                r.intent = 'reply' AND r.last_inbound_at IS NOT NULL
                                    AND r.last_inbound_at >= v_now - v_reply_window,
                                1, v_now);
            outcome := v_rl.outcome;
            retry_after_ms := v_rl.retry_after_ms;
            quarantined := v_rl.quarantined;
            why := v_rl.why;
        END IF;
        IF outcome <> 'ok' THEN
            DELETE FROM messages AS m WHERE m.id = r.id;
            DELETE FROM message_keys AS k WHERE k.api_key_id = r.api_key_id AND k.idempotency_key = r.key;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
