-- send_admit takes one POST /v1/messages from request to "call Linq now" in
-- one statement: the idempotency key (replay, reuse with another body, a
-- duplicate in flight, or taking over a send whose outcome is unknown), the
-- user, their current line and chat, the opt-out gate, then limits_admit.
-- When the outcome is 'ok' a messages row in state pending holds the key;
-- a refused first attempt leaves nothing behind, so it does not consume
-- its key.
--
-- A takeover (the key's earlier attempt failed with an unknown outcome, or
-- its lease ran out) resends the same message: same id (hence the same Linq
-- key), same line, handle and chat, and the slot the first attempt took.
-- It does not go through the limits again: Linq may hold the message
-- already, and then it answers the resend with it. Its pair stamp moves to
-- now (or is added back when it has left the window).
--
-- Outcomes: ok, replay, key_reused, in_progress, user_not_found, no_handle,
-- opted_out, and limits_admit's pair_limit, pair_quarantined, line_budget,
-- line_unavailable. s: lease_ms, keep_ms, reply_window_ms and
-- limits_admit's settings.
CREATE OR REPLACE FUNCTION send_admit(
    p_message_id uuid,
    p_api_key_id bigint,
    p_key        text,
    p_hash       bytea,
    p_user_ref   text,
    p_handle     text,
    p_intent     text,
    p_body       jsonb,
    s            jsonb,
    OUT outcome         text,
    OUT takeover        boolean,
    OUT message_id      uuid,
    OUT user_id         bigint,
    OUT user_ref        text,
    OUT handle          text,
    OUT line_id         bigint,
    OUT line_number     text,
    OUT chat_id         text,
    OUT retry_after_ms  bigint,
    OUT quarantined     boolean,
    OUT why             text,
    OUT linq_message_id text,
    OUT trace_id        text,
    OUT delivery_status text,
    OUT admitted_at     timestamptz,
    OUT lease_until     timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now    timestamptz := lg_now();
    v_lease  interval := (s ->> 'lease_ms')::bigint * interval '1 millisecond';
    v_msg    record;
    v_user   record;
    v_found  boolean;
    v_new    boolean := false;
    v_reply  boolean;
    v_rl     record;
BEGIN
    outcome := 'ok';
    takeover := false;
    message_id := p_message_id;
    retry_after_ms := 0;
    quarantined := false;
    why := '';
    admitted_at := v_now;
    lease_until := v_now + v_lease;

    -- The common case, a new key for a known user, takes two statements:
    -- read the user, then reserve the key. Everything else goes the long
    -- way below, which answers exactly as if the key had been looked up
    -- first.

    -- 1. The user, their current line and their chat on it (a plain read).
    -- Two statements, not one with an OR, so that each keeps its index.
    IF p_user_ref IS NOT NULL THEN
        SELECT u.id AS uid, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at, u.last_inbound_at,
               l.id AS lid, l.number AS lnumber, c.linq_chat_id AS chat
          INTO v_user
          FROM users AS u
          JOIN lines AS l ON l.id = u.current_line_id
          LEFT JOIN chats AS c ON c.user_id = u.id AND c.line_id = u.current_line_id
         WHERE u.user_ref = p_user_ref;
    ELSE
        SELECT u.id AS uid, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at, u.last_inbound_at,
               l.id AS lid, l.number AS lnumber, c.linq_chat_id AS chat
          INTO v_user
          FROM users AS u
          JOIN lines AS l ON l.id = u.current_line_id
          LEFT JOIN chats AS c ON c.user_id = u.id AND c.line_id = u.current_line_id
         WHERE u.handle = p_handle;
    END IF;
    v_found := FOUND;

    -- 2. Reserve the key before taking any limit, so that concurrent
    -- duplicates wait here on the unique index instead of both admitting.
    -- (message_keys holds the keys: messages is partitioned by day, and a
    -- unique index cannot span partitions.)
    IF v_found AND v_user.uhandle IS NOT NULL THEN
        INSERT INTO message_keys (api_key_id, idempotency_key, message_id, expires_at)
        VALUES (p_api_key_id, p_key, p_message_id, v_now + (s ->> 'keep_ms')::bigint * interval '1 millisecond')
        ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
        v_new := FOUND;
        IF v_new THEN
            INSERT INTO messages (id, api_key_id, idempotency_key, request_hash,
                                  user_id, line_id, handle, intent, state, lease_until, admitted_at, body,
                                  created_at, updated_at)
            VALUES (p_message_id, p_api_key_id, p_key, p_hash,
                    v_user.uid, v_user.lid, v_user.uhandle, p_intent, 'pending', v_now + v_lease, v_now, p_body,
                    v_now, v_now);
        END IF;
    END IF;

    IF NOT v_new THEN
        -- 3. A key seen before.
        SELECT m.id, m.request_hash, m.state, m.lease_until AS lease, m.user_id AS uid, m.line_id AS lid,
               m.linq_chat_id, m.linq_message_id, m.trace_id, m.delivery_status, m.admitted_at AS at, m.handle,
               u.user_ref AS uref, l.number AS lnumber, c.linq_chat_id AS chat
          INTO v_msg
          FROM message_keys AS k
          JOIN messages AS m ON m.id = k.message_id
          LEFT JOIN users AS u ON u.id = m.user_id
          LEFT JOIN lines AS l ON l.id = m.line_id
          LEFT JOIN chats AS c ON c.user_id = m.user_id AND c.line_id = m.line_id
         WHERE k.api_key_id = p_api_key_id AND k.idempotency_key = p_key
           FOR UPDATE OF m;
        IF FOUND THEN
            message_id := v_msg.id;
            user_id := v_msg.uid;
            user_ref := v_msg.uref;
            handle := v_msg.handle;
            line_id := v_msg.lid;
            line_number := v_msg.lnumber;
            IF v_msg.request_hash IS DISTINCT FROM p_hash THEN
                outcome := 'key_reused';
                RETURN;
            END IF;
            IF v_msg.state = 'sent' THEN
                outcome := 'replay';
                chat_id := v_msg.linq_chat_id;
                linq_message_id := v_msg.linq_message_id;
                trace_id := v_msg.trace_id;
                delivery_status := v_msg.delivery_status;
                admitted_at := v_msg.at;
                RETURN;
            END IF;
            IF v_msg.state = 'pending' AND v_msg.lease > v_now THEN
                outcome := 'in_progress';
                lease_until := v_msg.lease;
                RETURN;
            END IF;
            -- Outcome unknown, or a pending send whose replica died: send
            -- the same message again, reusing its slot.
            takeover := true;
            chat_id := v_msg.chat;
            UPDATE pair_state AS pw
               SET sends = CASE WHEN v_msg.at = ANY (pw.sends)
                                THEN array_replace(pw.sends, v_msg.at, v_now)
                                ELSE pw.sends || v_now END
             WHERE pw.line_id = v_msg.lid AND pw.handle = v_msg.handle;
            UPDATE messages AS m
               SET state = 'pending', lease_until = v_now + v_lease, admitted_at = v_now, updated_at = v_now,
                   body = coalesce(m.body, p_body)
             WHERE m.id = v_msg.id;
            RETURN;
        END IF;
        IF NOT v_found THEN
            outcome := 'user_not_found';
            RETURN;
        END IF;
        user_id := v_user.uid;
        user_ref := v_user.uref;
        line_id := v_user.lid;
        line_number := v_user.lnumber;
        chat_id := v_user.chat;
        IF v_user.uhandle IS NULL THEN
            outcome := 'no_handle';
        ELSE
            -- The insert met a duplicate that is gone again (its first
            -- attempt was refused): the caller asks again, as for one in
            -- flight.
            outcome := 'in_progress';
            lease_until := v_now;
        END IF;
        RETURN;
    END IF;
    user_id := v_user.uid;
    user_ref := v_user.uref;
    handle := v_user.uhandle;
    line_id := v_user.lid;
    line_number := v_user.lnumber;
    chat_id := v_user.chat;

    -- 4. Opt-out, then the limits and the line.
    IF v_user.opted_out_at IS NOT NULL THEN
        outcome := 'opted_out';
    ELSE
        v_reply := p_intent = 'reply' AND v_user.last_inbound_at IS NOT NULL
                   AND v_user.last_inbound_at >= v_now - (s ->> 'reply_window_ms')::bigint * interval '1 millisecond';
        -- The same instant as the message's admitted_at: it is the pair
        -- stamp the give-back and the restamp on Linq's answer look for.
        SELECT * INTO v_rl FROM limits_admit(v_user.lid, ARRAY[v_user.uhandle], s, v_reply, 1, v_now);
        outcome := v_rl.outcome;
        retry_after_ms := v_rl.retry_after_ms;
        quarantined := v_rl.quarantined;
        why := v_rl.why;
    END IF;
    IF outcome <> 'ok' THEN
        DELETE FROM messages AS m WHERE m.id = p_message_id;
        DELETE FROM message_keys AS k WHERE k.api_key_id = p_api_key_id AND k.idempotency_key = p_key;
    END IF;
END;
$$;
