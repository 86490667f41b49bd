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
-- now (or is added back when it has left the window), in limits_admit's
-- call, under the batch's ordered locks: moved before that call, it would
-- hold its pair while the call waits for a line. It still passes the
-- recipient's gates: when the user was deleted, has another handle than
-- the one the message is for (recipient_gone) or opted out (opted_out),
-- nothing is resent; the message is failed, its key kept, so that a retry
-- gets the same answer while that holds.
--
-- A new send to a user who was moved onto their line (the newest line
-- ledger row put them there, for a reason in s.continuation_after) and has
-- no chat on it yet opens the chat with the continuation text, a Linq
-- message of its own: it is admitted with 2 units (two stamps in the pair
-- window, two messages of the budget), all or none, and answers the
-- continuation's stamp (continuation_at), which its messages row keeps
-- until the continuation is known sent. When the two do not fit, the send
-- is refused with the limit's usual answer: sent alone, the message would
-- open the chat itself with no word of the new number (and Linq refuses a
-- first message with a link, a reply_to or an effect), and the next send
-- would owe the continuation all the same.
--
-- The sends are decided in the order of the locks they take: by line, then
-- handle, then key. The keys are reserved first (in key order), then the
-- new sends go through limits_admit together, which takes their lines'
-- window rows in ascending id order and then their pair rows in (line,
-- handle) order, so two batches wait for each other instead of
-- deadlocking. Each send is admitted at its own instant: the batch's
-- lg_now reading plus twice its position in microseconds, leaving the
-- microsecond after it to a continuation's stamp. An empty user_ref or
-- handle stands for none.
--
-- Outcomes: ok, replay, key_reused, in_progress, user_not_found, no_handle,
-- opted_out, recipient_gone, and limits_admit's pair_limit,
-- pair_quarantined, line_budget, line_unavailable. s: lease_ms, keep_ms,
-- reply_window_ms, keep_body, continuation_after (an array of ledger
-- reasons; none: no continuation) and limits_admit's settings.
--
-- Set-based: a batch costs a fixed number of statements (the read with the
-- key reservation, the limits, the messages rows), whatever its size; only
-- a key seen before costs statements of its own. Generic plans, keyed
-- lookups and no sequential scans, as in limits_admit (see there).
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
    lease_until     timestamptz,
    continuation_at timestamptz
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_base  timestamptz := lg_now();
    v_now   timestamptz;
    v_lease interval := (s ->> 'lease_ms')::bigint * interval '1 millisecond';
    v_keep  interval := (s ->> 'keep_ms')::bigint * interval '1 millisecond';
    v_reply_window interval := (s ->> 'reply_window_ms')::bigint * interval '1 millisecond';
    v_keep_body boolean := coalesce((s ->> 'keep_body')::boolean, false);
    v_cont_after text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(s -> 'continuation_after', '[]')));
    v_us    interval := interval '1 microsecond';
    v_n     integer;
    -- The batch in lock order, one element per send: the request, whether
    -- its user (with a line) was found, and what the gates read of them.
    b_k      integer[];
    b_id     uuid[];
    b_akid   bigint[];
    b_key    text[];
    b_hash   bytea[];
    b_intent text[];
    b_body   jsonb[];
    b_found  boolean[];
    b_opted  boolean[];
    b_last   timestamptz[];
    b_new    boolean[];
    b_cont   boolean[];
    -- The answers; the user, line and chat ones hold the batch's read
    -- until a key seen before overrides them.
    o_outcome  text[];
    o_takeover boolean[];
    o_mid      uuid[];
    o_uid      bigint[];
    o_uref     text[];
    o_handle   text[];
    o_lid      bigint[];
    o_number   text[];
    o_chat     text[];
    o_retry    bigint[];
    o_quar     boolean[];
    o_why      text[];
    o_linq     text[];
    o_trace    text[];
    o_status   text[];
    o_at       timestamptz[];
    o_lease    timestamptz[];
    o_cont     timestamptz[];
    -- The new sends that go through the limits, in batch order.
    q_pos    integer[] := '{}';
    q_lines  bigint[] := '{}';
    q_reply  boolean[] := '{}';
    q_handles text[] := '{}';
    q_ats    timestamptz[] := '{}';
    q_reqs   integer[] := '{}';
    q_units  integer[] := '{}';
    v_refused boolean := false;
    -- The takeovers' pair stamps to move: from the first attempt's instant
    -- to the resend's.
    t_lines   bigint[] := '{}';
    t_handles text[] := '{}';
    t_from    timestamptz[] := '{}';
    t_to      timestamptz[] := '{}';
    v_msg    record;
    r        record;
    i        integer;
BEGIN
    -- The user, their current line and their chat on it are read with the
    -- batch (a plain read, as a send alone reads them), and the keys of the
    -- sends to users with a handle are reserved in the same statement:
    -- before any limit is taken, so that concurrent duplicates wait on the
    -- unique index instead of both admitting; in key order, so that two
    -- batches wait for each other's keys instead of deadlocking.
    -- (message_keys holds the keys: messages is partitioned by day, and a
    -- unique index cannot span partitions.) Rows are read in a loop, not
    -- gathered with array_agg: each ordered aggregate costs more to set up
    -- than the loop costs to run.
    v_n := 0;
    FOR r IN
        WITH b AS MATERIALIZED (
            SELECT i.*, u.id AS uid, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at, u.last_inbound_at,
                   u.current_line_id AS lid, l.number AS lnumber, c.linq_chat_id AS chat,
                   g.reason AS moved_for, g.to_line_id AS moved_to
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
              -- Keyed lookups in LATERAL subqueries that the planner cannot
              -- flatten (LIMIT): a nested loop of key lookups whatever the
              -- statistics (see limits_admit).
              LEFT JOIN LATERAL (
                    SELECT l0.number FROM lines AS l0 WHERE l0.id = u.current_line_id LIMIT 1
              ) AS l ON true
              LEFT JOIN LATERAL (
                    SELECT c0.linq_chat_id FROM chats AS c0
                     WHERE c0.user_id = u.id AND c0.line_id = u.current_line_id LIMIT 1
              ) AS c ON true
              -- The move that put the user on their line, read only for a
              -- user without a chat there (a continuation may be due).
              LEFT JOIN LATERAL (
                    SELECT g0.reason, g0.to_line_id FROM line_ledger AS g0
                     WHERE c.linq_chat_id IS NULL AND cardinality(v_cont_after) > 0 AND g0.user_id = u.id
                     ORDER BY g0.created_at DESC, g0.id DESC LIMIT 1
              ) AS g ON true
        ), ins AS (
            INSERT INTO message_keys (api_key_id, idempotency_key, message_id, expires_at)
            SELECT b.api_key_id, b.key, b.id, v_base + v_keep
              FROM b
             WHERE b.uid IS NOT NULL AND b.lnumber IS NOT NULL AND b.uhandle IS NOT NULL
             ORDER BY b.api_key_id, b.key
            ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
            RETURNING message_id
        )
        SELECT b.*, ins.message_id IS NOT NULL AS new
          FROM b
          LEFT JOIN ins ON ins.message_id = b.id
         ORDER BY b.lid NULLS LAST, b.uhandle, b.key
    LOOP
        v_n := v_n + 1;
        b_k[v_n] := r.k;
        b_id[v_n] := r.id;
        b_akid[v_n] := r.api_key_id;
        b_key[v_n] := r.key;
        b_hash[v_n] := r.hash;
        b_intent[v_n] := r.intent;
        b_body[v_n] := r.body;
        b_found[v_n] := r.uid IS NOT NULL AND r.lnumber IS NOT NULL;
        b_new[v_n] := r.new;
        b_opted[v_n] := r.opted_out_at IS NOT NULL;
        b_last[v_n] := r.last_inbound_at;
        b_cont[v_n] := coalesce(r.chat IS NULL AND r.moved_for = ANY (v_cont_after) AND r.moved_to = r.lid, false);
        -- The user, their line and chat as the batch read them (none when
        -- not found); a key seen before answers with its message's own.
        o_uid[v_n] := CASE WHEN b_found[v_n] THEN r.uid END;
        o_uref[v_n] := CASE WHEN b_found[v_n] THEN r.uref END;
        o_handle[v_n] := CASE WHEN b_found[v_n] THEN r.uhandle END;
        o_lid[v_n] := CASE WHEN b_found[v_n] THEN r.lid END;
        o_number[v_n] := CASE WHEN b_found[v_n] THEN r.lnumber END;
        o_chat[v_n] := CASE WHEN b_found[v_n] THEN r.chat END;
        -- Each send's own instant (see limits_admit), and the next one
        -- for its continuation's stamp.
        o_at[v_n] := v_base + 2 * (v_n - 1) * v_us;
    END LOOP;
    IF v_n = 0 THEN
        RETURN;
    END IF;

    o_outcome := array_fill('ok'::text, ARRAY[v_n]);
    o_takeover := array_fill(false, ARRAY[v_n]);
    o_mid := b_id;
    o_retry := array_fill(0::bigint, ARRAY[v_n]);
    o_quar := array_fill(false, ARRAY[v_n]);
    o_why := array_fill(''::text, ARRAY[v_n]);
    o_linq := array_fill(NULL::text, ARRAY[v_n]);
    o_trace := array_fill(NULL::text, ARRAY[v_n]);
    o_status := array_fill(NULL::text, ARRAY[v_n]);
    o_cont := array_fill(NULL::timestamptz, ARRAY[v_n]);

    FOR i IN 1 .. v_n LOOP
        v_now := o_at[i];
        o_lease[i] := v_now + v_lease;
        IF b_new[i] THEN
            -- A new send: the opt-out gate here, the limits below.
            IF b_opted[i] THEN
                o_outcome[i] := 'opted_out';
                v_refused := true;
            ELSE
                q_pos := q_pos || i;
                q_reqs := q_reqs || cardinality(q_pos);
                q_units := q_units || CASE WHEN b_cont[i] THEN 2 ELSE 1 END;
                IF b_cont[i] THEN
                    o_cont[i] := v_now + v_us;
                END IF;
                q_lines := q_lines || o_lid[i];
                q_handles := q_handles || o_handle[i];
                q_ats := q_ats || v_now;
                q_reply := q_reply || (b_intent[i] = 'reply' AND b_last[i] IS NOT NULL
                                       AND b_last[i] >= v_now - v_reply_window);
            END IF;
            CONTINUE;
        END IF;

        -- A key seen before.
        SELECT m.id, m.request_hash, m.state, m.lease_until AS lease, m.user_id AS uid, m.line_id AS lid,
               m.linq_chat_id, m.linq_message_id, m.trace_id, m.delivery_status, m.admitted_at AS at, m.handle,
               m.continuation_at AS cont, u.user_ref AS uref, u.handle AS uhandle, u.opted_out_at,
               l.number AS lnumber, c.linq_chat_id AS chat
          INTO v_msg
          FROM message_keys AS k
          JOIN messages AS m ON m.id = k.message_id
          LEFT JOIN users AS u ON u.id = m.user_id
          LEFT JOIN lines AS l ON l.id = m.line_id
          LEFT JOIN chats AS c ON c.user_id = m.user_id AND c.line_id = m.line_id
         WHERE k.api_key_id = b_akid[i] AND k.idempotency_key = b_key[i]
           FOR UPDATE OF m;
        IF NOT FOUND THEN
            IF NOT b_found[i] THEN
                o_outcome[i] := 'user_not_found';
            ELSIF o_handle[i] IS NULL THEN
                o_outcome[i] := 'no_handle';
            ELSE
                -- The key's holder has no message row: it is earlier in
                -- this batch, or its first attempt was refused and gave the
                -- key back. The caller asks again, as for one in flight.
                o_outcome[i] := 'in_progress';
                o_lease[i] := v_now;
            END IF;
            CONTINUE;
        END IF;
        o_mid[i] := v_msg.id;
        o_uid[i] := v_msg.uid;
        o_uref[i] := v_msg.uref;
        o_handle[i] := v_msg.handle;
        o_lid[i] := v_msg.lid;
        o_number[i] := v_msg.lnumber;
        o_chat[i] := NULL;
        IF v_msg.request_hash IS DISTINCT FROM b_hash[i] THEN
            o_outcome[i] := 'key_reused';
        ELSIF v_msg.state = 'sent' THEN
            o_outcome[i] := 'replay';
            o_chat[i] := v_msg.linq_chat_id;
            o_linq[i] := v_msg.linq_message_id;
            o_trace[i] := v_msg.trace_id;
            o_status[i] := v_msg.delivery_status;
            o_at[i] := v_msg.at;
        ELSIF v_msg.state = 'pending' AND v_msg.lease > v_now THEN
            o_outcome[i] := 'in_progress';
            o_lease[i] := v_msg.lease;
        ELSIF v_msg.uref IS NULL OR v_msg.uhandle IS DISTINCT FROM v_msg.handle OR v_msg.opted_out_at IS NOT NULL THEN
            -- Outcome unknown, but the handle is no longer its user's, or
            -- the user opted out: nothing more goes to it. A pending send
            -- whose replica died is failed as MessageMarkFailed fails one
            -- (its stamps move to now, under limits_admit's locks); a
            -- failed one stays as it is.
            o_outcome[i] := CASE WHEN v_msg.opted_out_at IS NOT NULL AND v_msg.uhandle = v_msg.handle
                                 THEN 'opted_out' ELSE 'recipient_gone' END;
            IF v_msg.state = 'pending' THEN
                t_lines := t_lines || v_msg.lid;
                t_handles := t_handles || v_msg.handle;
                t_from := t_from || v_msg.at;
                t_to := t_to || v_now;
                IF v_msg.cont IS NOT NULL THEN
                    t_lines := t_lines || v_msg.lid;
                    t_handles := t_handles || v_msg.handle;
                    t_from := t_from || v_msg.cont;
                    t_to := t_to || (v_now + v_us);
                END IF;
                UPDATE messages AS m
                   SET state = 'failed', lease_until = NULL, admitted_at = v_now, updated_at = v_now,
                       continuation_at = CASE WHEN m.continuation_at IS NOT NULL THEN v_now + v_us END,
                       body = CASE WHEN v_keep_body THEN m.body END
                 WHERE m.id = v_msg.id;
            END IF;
        ELSE
            -- Outcome unknown, or a pending send whose replica died: send
            -- the same message again, reusing its slot (its pair stamp moves
            -- to now, or comes back when it has left the window), and its
            -- continuation's when it holds one. It does not go through the
            -- limits again: Linq may hold the message already, and then it
            -- answers the resend with it. limits_admit moves the stamps,
            -- under its ordered locks.
            o_takeover[i] := true;
            o_chat[i] := v_msg.chat;
            t_lines := t_lines || v_msg.lid;
            t_handles := t_handles || v_msg.handle;
            t_from := t_from || v_msg.at;
            t_to := t_to || v_now;
            IF v_msg.cont IS NOT NULL THEN
                o_cont[i] := v_now + v_us;
                t_lines := t_lines || v_msg.lid;
                t_handles := t_handles || v_msg.handle;
                t_from := t_from || v_msg.cont;
                t_to := t_to || o_cont[i];
            END IF;
            UPDATE messages AS m
               SET state = 'pending', lease_until = v_now + v_lease, admitted_at = v_now, updated_at = v_now,
                   continuation_at = o_cont[i], body = coalesce(m.body, b_body[i])
             WHERE m.id = v_msg.id;
        END IF;
    END LOOP;

    -- The limits and the line, for the new sends together, each at its own
    -- instant: the one its messages row keeps as admitted_at, the pair stamp
    -- the give-back and the restamp on Linq's answer look for. The
    -- takeovers' stamps move in the same call, in its lock order.
    IF cardinality(q_pos) > 0 OR cardinality(t_lines) > 0 THEN
        FOR r IN
            SELECT a.req, a.outcome, a.retry_after_ms, a.quarantined, a.why
              FROM limits_admit(q_lines, q_reply, q_units, q_reqs, q_handles, s, q_ats,
                                t_lines, t_handles, t_from, t_to) AS a
        LOOP
            i := q_pos[r.req];
            o_outcome[i] := r.outcome;
            o_retry[i] := r.retry_after_ms;
            o_quar[i] := r.quarantined;
            o_why[i] := r.why;
            IF r.outcome <> 'ok' THEN
                o_cont[i] := NULL;
            END IF;
            v_refused := v_refused OR r.outcome <> 'ok';
        END LOOP;
    END IF;

    -- An admitted send holds its key with a pending messages row; a refused
    -- first attempt leaves nothing behind, so it does not consume its key.
    INSERT INTO messages (id, api_key_id, idempotency_key, request_hash, user_id, line_id, handle, intent, state,
                          lease_until, admitted_at, continuation_at, body, created_at, updated_at)
    SELECT b_id[g], b_akid[g], b_key[g], b_hash[g], o_uid[g], o_lid[g], o_handle[g], b_intent[g], 'pending',
           o_lease[g], o_at[g], o_cont[g], b_body[g], o_at[g], o_at[g]
      FROM unnest(q_pos) AS g
     WHERE o_outcome[g] = 'ok';
    IF v_refused THEN
        DELETE FROM message_keys AS mk
         USING generate_series(1, v_n) AS g
         WHERE b_new[g] AND o_outcome[g] <> 'ok'
           AND mk.api_key_id = b_akid[g] AND mk.idempotency_key = b_key[g];
    END IF;

    FOR i IN 1 .. v_n LOOP
        n := b_k[i];
        outcome := o_outcome[i];
        takeover := o_takeover[i];
        message_id := o_mid[i];
        user_id := o_uid[i];
        user_ref := o_uref[i];
        handle := o_handle[i];
        line_id := o_lid[i];
        line_number := o_number[i];
        chat_id := o_chat[i];
        retry_after_ms := o_retry[i];
        quarantined := o_quar[i];
        why := o_why[i];
        linq_message_id := o_linq[i];
        trace_id := o_trace[i];
        delivery_status := o_status[i];
        admitted_at := o_at[i];
        lease_until := o_lease[i];
        continuation_at := o_cont[i];
        RETURN NEXT;
    END LOOP;
END;
$$;
