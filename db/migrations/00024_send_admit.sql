-- +goose Up
-- send_admit takes one POST /v1/messages from request to "call Linq now" in
-- one round trip: the idempotency key (replay, reuse with another body, a
-- duplicate in flight, or taking over a send whose outcome was unknown), the
-- user, their current line and chat, the opt-out gate, then rl_admit. When
-- the outcome is 'ok' a messages row in state pending holds the key; on any
-- refusal nothing is left behind, so a refused send does not consume its key.
--
-- Outcomes: ok, replay, key_reused, in_progress, user_not_found, no_handle,
-- opted_out, and rl_admit's pair_limit, pair_quarantined, line_budget,
-- line_unavailable.
-- line_can_send is whether a line may send now: the one definition of the
-- line's usability for the send path (send_admit, reactions and edits,
-- typing and the contact card). A plain SQL expression, so the planner
-- inlines it.
-- +goose StatementBegin
CREATE FUNCTION line_can_send(l lines) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT l.ineligible_at IS NULL AND l.service_status = 'ACTIVE' AND l.admin_state <> 'retired'
       AND l.reputation <> 'CRITICAL'
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION send_admit(
    p_message_id   uuid,
    p_api_key_id   bigint,
    p_key          text,
    p_hash         bytea,
    p_user_ref     text,
    p_handle       text,
    p_intent       text,
    p_body         jsonb,
    p_now          timestamptz,
    p_lease        interval,
    p_keep         interval,
    p_reply_window interval,
    p_pair_limit   integer,
    p_pair_window  interval,
    p_hit_limit    integer,
    p_hit_window   interval,
    p_quarantine   interval,
    p_budget       integer,
    p_warmup       interval,
    p_reserve      numeric,
    OUT outcome         text,
    OUT message_id      uuid,
    OUT user_id         bigint,
    OUT user_ref        text,
    OUT handle          text,
    OUT line_id         bigint,
    OUT line_number     text,
    OUT chat_id         text,
    OUT retry_after_ms  bigint,
    OUT quarantined     boolean,
    OUT linq_message_id text,
    OUT trace_id        text,
    OUT delivery_status text,
    OUT admitted_at     timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_msg      record;
    v_user     record;
    v_found    boolean;
    v_new      boolean := false;
    v_takeover boolean := false;
    v_reply    boolean;
    v_rl       record;
    v_id       uuid := p_message_id;
BEGIN
    outcome := 'ok';
    message_id := p_message_id;
    retry_after_ms := 0;
    quarantined := false;
    admitted_at := p_now;

    -- The common case, a new key for a known user, takes two statements:
    -- read the user, then reserve the key. Everything else (a key seen
    -- before, an unknown or unconnected user) goes the long way below,
    -- which answers exactly as if the key had been looked up first.

    -- 1. The user, their current line and their chat on it (a plain read).
    IF p_user_ref IS NOT NULL THEN
        SELECT u.id AS uid, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at, u.last_inbound_at,
               l.id AS lid, l.number AS lnumber,
               line_can_send(l) AS line_ok,
               c.linq_chat_id AS chat
          INTO v_user
          FROM users AS u
          JOIN lines AS l ON l.id = u.current_line_id
          LEFT JOIN chats AS c ON c.user_id = u.id AND c.line_id = u.current_line_id
         WHERE u.user_ref = p_user_ref;
    ELSE
        SELECT u.id AS uid, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at, u.last_inbound_at,
               l.id AS lid, l.number AS lnumber,
               line_can_send(l) AS line_ok,
               c.linq_chat_id AS chat
          INTO v_user
          FROM users AS u
          JOIN lines AS l ON l.id = u.current_line_id
          LEFT JOIN chats AS c ON c.user_id = u.id AND c.line_id = u.current_line_id
         WHERE u.handle = p_handle;
    END IF;
    v_found := FOUND;

    -- 2. Reserve the key before taking any limit, so that concurrent
    -- duplicates wait here on the unique index instead of both admitting.
    -- ON CONFLICT waits for an in-flight duplicate to commit or roll back.
    IF v_found AND v_user.uhandle IS NOT NULL THEN
        INSERT INTO messages (id, api_key_id, idempotency_key, request_hash, idempotency_expires_at,
                              user_id, line_id, handle, intent, state, lease_until, admitted_at, body,
                              created_at, updated_at)
        VALUES (p_message_id, p_api_key_id, p_key, p_hash, p_now + p_keep,
                v_user.uid, v_user.lid, v_user.uhandle, p_intent, 'pending', p_now + p_lease, p_now, p_body,
                p_now, p_now)
        ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
        v_new := FOUND;
    END IF;

    IF NOT v_new THEN
        -- 3. A key seen before.
        SELECT m.id, m.request_hash, m.state, m.lease_until, m.line_id, m.linq_chat_id, m.linq_message_id,
               m.trace_id, m.delivery_status, m.admitted_at, m.handle, u.user_ref AS uref, l.number AS lnumber
          INTO v_msg
          FROM messages AS m
          LEFT JOIN users AS u ON u.id = m.user_id
          LEFT JOIN lines AS l ON l.id = m.line_id
         WHERE m.api_key_id = p_api_key_id AND m.idempotency_key = p_key
           FOR UPDATE OF m;
        IF FOUND THEN
            message_id := v_msg.id;
            v_id := v_msg.id;
            IF v_msg.request_hash IS DISTINCT FROM p_hash THEN
                outcome := 'key_reused';
                RETURN;
            END IF;
            IF v_msg.state = 'sent' THEN
                outcome := 'replay';
                user_ref := v_msg.uref;
                handle := v_msg.handle;
                line_id := v_msg.line_id;
                line_number := v_msg.lnumber;
                chat_id := v_msg.linq_chat_id;
                linq_message_id := v_msg.linq_message_id;
                trace_id := v_msg.trace_id;
                delivery_status := v_msg.delivery_status;
                admitted_at := v_msg.admitted_at;
                RETURN;
            END IF;
            IF v_msg.state = 'pending' AND v_msg.lease_until > p_now THEN
                outcome := 'in_progress';
                RETURN;
            END IF;
            -- failed (outcome unknown) or a pending send whose replica died:
            -- send again under the same message id, hence the same Linq key.
            v_takeover := true;
        END IF;
        IF NOT v_found THEN
            outcome := 'user_not_found';
            RETURN;
        END IF;
        IF v_user.uhandle IS NULL THEN
            user_id := v_user.uid;
            user_ref := v_user.uref;
            line_id := v_user.lid;
            line_number := v_user.lnumber;
            chat_id := v_user.chat;
            outcome := 'no_handle';
            RETURN;
        END IF;
        IF NOT v_takeover THEN
            -- The insert met a duplicate that is gone again (its send was
            -- refused): the caller asks again, as for one in flight.
            outcome := 'in_progress';
            RETURN;
        END IF;
        UPDATE messages AS m
           SET state = 'pending', lease_until = p_now + p_lease, user_id = v_user.uid, line_id = v_user.lid,
               handle = v_user.uhandle, intent = p_intent, admitted_at = p_now, updated_at = p_now
         WHERE m.id = v_id;
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
                   AND v_user.last_inbound_at >= p_now - p_reply_window;
        SELECT * INTO v_rl FROM rl_admit(v_user.lid, ARRAY[v_user.uhandle], p_now, p_pair_limit, p_pair_window,
                                         p_hit_limit, p_hit_window, p_quarantine, p_budget, p_warmup,
                                         p_reserve, v_reply, v_user.line_ok, 1);
        outcome := v_rl.outcome;
        retry_after_ms := v_rl.retry_after_ms;
        quarantined := v_rl.quarantined;
    END IF;
    IF outcome <> 'ok' THEN
        IF v_takeover THEN
            UPDATE messages AS m SET state = 'failed', lease_until = NULL, updated_at = p_now WHERE m.id = v_id;
        ELSE
            DELETE FROM messages AS m WHERE m.id = v_id;
        END IF;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION send_admit;
DROP FUNCTION line_can_send;
