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
    -- it; each send is stamped two microseconds after the one before (the
    -- one between for its continuation's), so that a pair's stamps stay
    -- distinct (see limits_admit).
    v_base timestamptz := lg_now();
    v_now  timestamptz;
    j      integer := 0;
BEGIN
    PERFORM 1 FROM messages AS m WHERE m.id = ANY (p_ids) ORDER BY m.id FOR NO KEY UPDATE;
    FOR r IN
        SELECT i.*
          FROM unnest(p_ids, p_line_ids, p_handles, p_chats, p_linq_ids, p_traces, p_statuses, p_new_chats)
               WITH ORDINALITY AS i(id, line_id, handle, chat, linq_id, trace, status, new_chat, k)
         ORDER BY i.line_id, i.handle, i.id
    LOOP
        n := r.k;
        awaited := false;
        restamped := 0;
        chats_added := 0;
        v_now := v_base + 2 * j * interval '1 microsecond';
        j := j + 1;
        UPDATE messages AS m
           SET state = 'sent', lease_until = NULL, linq_chat_id = r.chat, linq_message_id = r.linq_id,
               trace_id = nullif(r.trace, ''), updated_at = v_now,
               delivery_status = CASE WHEN coalesce(m.failed_at, m.read_at, m.delivered_at, m.sent_at) IS NULL
                                      THEN r.status ELSE m.delivery_status END,
               body = CASE WHEN p_keep_body THEN m.body END
         WHERE m.id = r.id
        RETURNING m.user_id, m.line_id, m.handle, m.admitted_at, m.continuation_at, m.awaited INTO v_m;
        IF FOUND THEN
            awaited := v_m.awaited;
            UPDATE pair_state AS pw
               SET sends = array_replace(array_replace(pw.sends, v_m.admitted_at, v_now),
                                         v_m.continuation_at, v_now + interval '1 microsecond')
             WHERE pw.line_id = v_m.line_id AND pw.handle = v_m.handle;
            GET DIAGNOSTICS restamped = ROW_COUNT;
            IF r.new_chat THEN
                PERFORM 1 FROM users AS u WHERE u.id = v_m.user_id AND u.handle = v_m.handle FOR KEY SHARE OF u;
                IF FOUND THEN
                    INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
                    VALUES (v_m.user_id, v_m.line_id, r.chat, v_now)
                    ON CONFLICT (user_id, line_id) DO NOTHING;
                    GET DIAGNOSTICS chats_added = ROW_COUNT;
                END IF;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
