-- message_open_chat records that a continuation text opened the chat on
-- the user's line for the pending send p_id, which goes out on it next: the
-- chat is recorded now (under MessageMarkSent's handle guard: only while
-- the user's handle is still the one the send is for), so that no later
-- attempt sends the continuation again. The continuation is a message of
-- its own at Linq, admitted with the send (a stamp in the pair window and a
-- unit of the line's budget): its stamp moves to now, a time Linq's own
-- stamp of it cannot be later than (or comes back, should it have left the
-- window), and the send no longer holds it (continuation_at).
--
-- Locks, in the order every path takes them (see message_mark_sent_many):
-- the message, the line's window row before its pair row (limits_admit's
-- order), then the user (FOR KEY SHARE, as MessageMarkSent). Generic
-- plans without sequential scans, as in limits_admit (see there): a
-- failover sends a continuation to each of a line's users at once.
CREATE OR REPLACE FUNCTION message_open_chat(
    p_id   uuid,
    p_chat text
) RETURNS TABLE (chats_added integer, stamped integer)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_m   record;
    v_now timestamptz;
BEGIN
    chats_added := 0;
    stamped := 0;
    SELECT m.user_id, m.line_id, m.handle, m.continuation_at AS cont INTO v_m
      FROM messages AS m
     WHERE m.id = p_id AND m.state = 'pending'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_m.cont IS NOT NULL THEN
        UPDATE messages AS m SET continuation_at = NULL WHERE m.id = p_id;
        PERFORM 1 FROM line_window AS w WHERE w.line_id = v_m.line_id FOR UPDATE;
        v_now := lg_now();
        UPDATE pair_state AS pw
           SET sends = CASE WHEN v_m.cont = ANY (pw.sends) THEN array_replace(pw.sends, v_m.cont, v_now)
                            ELSE pw.sends || v_now END
         WHERE pw.line_id = v_m.line_id AND pw.handle = v_m.handle;
        GET DIAGNOSTICS stamped = ROW_COUNT;
        IF stamped = 0 THEN
            INSERT INTO pair_state AS pw (line_id, handle, sends) VALUES (v_m.line_id, v_m.handle, ARRAY[v_now])
            ON CONFLICT (line_id, handle) DO UPDATE SET sends = pw.sends || excluded.sends;
            stamped := 1;
        END IF;
    END IF;
    PERFORM 1 FROM users AS u WHERE u.id = v_m.user_id AND u.handle = v_m.handle FOR KEY SHARE OF u;
    IF FOUND THEN
        INSERT INTO chats (user_id, line_id, linq_chat_id, created_at)
        VALUES (v_m.user_id, v_m.line_id, p_chat, lg_now())
        ON CONFLICT (user_id, line_id) DO NOTHING;
        GET DIAGNOSTICS chats_added = ROW_COUNT;
    END IF;
    RETURN NEXT;
END;
$$;
