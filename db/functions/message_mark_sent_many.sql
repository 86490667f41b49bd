-- message_mark_sent_many records Linq's answers to a batch of sends in one
-- statement and one commit (group commit), each numbered n (1-based, the
-- order given): the message is sent, its pair stamp moves from its
-- admission to now, a time Linq's own stamp of the message cannot be later
-- than (so the pair window never runs ahead of Linq's), and the chat a send
-- opened is recorded. A continuation stamp the send still holds (the
-- record of the chat its continuation opened failed) moves with it, to the
-- next microsecond. The parts, kept while the outcome was open (the
-- recovery job resends them), are dropped unless p_keep_body. A status
-- that a webhook event already set (its time is on the row) is later than
-- the one in Linq's answer and stays.
--
-- The chat is recorded only while the user's handle is still the one the
-- message went to: an import that changes the handle drops the user's
-- chats, and a send in flight for the old handle must not bring one back.
-- The user's row is locked FOR KEY SHARE, which a handle change's FOR
-- UPDATE (UserLockForHandle) conflicts with: the change either waits for
-- this transaction (and then drops the chat it added) or commits first
-- (and then the recheck of the handle finds it changed). KEY SHARE, not
-- SHARE: the no-key updates of a user (an inbound message, an opt-out, a
-- move) do not wait on it, nor it on them.
--
-- Locks go in the one order every path takes them: the messages rows
-- first, by id (the order a webhook batch updates their statuses in); then
-- the pair rows, in (line, handle) order (the caller passes each send's, as
-- admitted), the order in which admissions lock pairs; then users and
-- chats. So concurrent batches, admissions and webhook batches wait for
-- each other instead of deadlocking. An empty trace stands for none.
-- Generic plans without sequential scans, as in limits_admit (see there).
CREATE OR REPLACE FUNCTION message_mark_sent_many(
    p_ids       uuid[],
    p_line_ids  bigint[],
    p_handles   text[],
    p_chats     text[],
    p_linq_ids  text[],
    p_traces    text[],
    p_statuses  text[],
    p_new_chats boolean[],
    p_keep_body boolean
) RETURNS TABLE (n integer, awaited boolean, restamped integer, chats_added integer)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    r      record;
    v_m    record;
    -- The batch's clock reading, taken after Linq answered every send in
    -- it; each send is stamped two microseconds after the one before in
    -- pair order (the one between for its continuation's), so that a
    -- pair's stamps stay distinct (see limits_admit).
    v_base timestamptz := lg_now();
    v_now  timestamptz;
    -- What each send's messages row held, by its number (k): found, then
    -- its user, line, handle, admission and continuation stamps.
    m_found   boolean[] := array_fill(false, ARRAY[cardinality(p_ids)]);
    m_user    bigint[];
    m_line    bigint[];
    m_handle  text[];
    m_at      timestamptz[];
    m_cont    timestamptz[];
    m_awaited boolean[];
BEGIN
    -- 1. The messages rows, by id. One UPDATE each, by key: a lookup of a
    -- set of ids (= ANY) cannot prune the partitions and probes them all.
    FOR r IN
        SELECT i.*, (row_number() OVER (ORDER BY i.line_id, i.handle, i.id) - 1)::integer AS j
          FROM unnest(p_ids, p_line_ids, p_handles, p_chats, p_linq_ids, p_traces, p_statuses)
               WITH ORDINALITY AS i(id, line_id, handle, chat, linq_id, trace, status, k)
         ORDER BY i.id
    LOOP
        UPDATE messages AS m
           SET state = 'sent', lease_until = NULL, linq_chat_id = r.chat, linq_message_id = r.linq_id,
               trace_id = nullif(r.trace, ''), updated_at = v_base + 2 * r.j * interval '1 microsecond',
               delivery_status = CASE WHEN coalesce(m.failed_at, m.read_at, m.delivered_at, m.sent_at) IS NULL
                                      THEN r.status ELSE m.delivery_status END,
               body = CASE WHEN p_keep_body THEN m.body END
         WHERE m.id = r.id
        RETURNING m.user_id, m.line_id, m.handle, m.admitted_at, m.continuation_at, m.awaited INTO v_m;
        IF FOUND THEN
            m_found[r.k] := true;
            m_user[r.k] := v_m.user_id;
            m_line[r.k] := v_m.line_id;
            m_handle[r.k] := v_m.handle;
            m_at[r.k] := v_m.admitted_at;
            m_cont[r.k] := v_m.continuation_at;
            m_awaited[r.k] := v_m.awaited;
        END IF;
    END LOOP;

    -- 2. The pairs, in pair order, each with its user and chat.
    FOR r IN
        SELECT i.*, (row_number() OVER (ORDER BY i.line_id, i.handle, i.id) - 1)::integer AS j
          FROM unnest(p_ids, p_line_ids, p_handles, p_chats, p_new_chats)
               WITH ORDINALITY AS i(id, line_id, handle, chat, new_chat, k)
         ORDER BY i.line_id, i.handle, i.id
    LOOP
        n := r.k;
        awaited := false;
        restamped := 0;
        chats_added := 0;
        v_now := v_base + 2 * r.j * interval '1 microsecond';
        IF m_found[r.k] THEN
            awaited := m_awaited[r.k];
            UPDATE pair_state AS pw
               SET sends = array_replace(array_replace(pw.sends, m_at[r.k], v_now),
                                         m_cont[r.k], v_now + interval '1 microsecond')
             WHERE pw.line_id = m_line[r.k] AND pw.handle = m_handle[r.k];
            GET DIAGNOSTICS restamped = ROW_COUNT;
            IF r.new_chat THEN
                PERFORM 1 FROM users AS u WHERE u.id = m_user[r.k] AND u.handle = m_handle[r.k] FOR KEY SHARE OF u;
                IF FOUND THEN
                    INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
                    VALUES (m_user[r.k], m_line[r.k], r.chat, v_now)
                    ON CONFLICT (user_id, line_id) DO NOTHING;
                    GET DIAGNOSTICS chats_added = ROW_COUNT;
                END IF;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
