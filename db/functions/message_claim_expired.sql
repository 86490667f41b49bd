-- message_claim_expired claims, for the recovery job, up to p_batch sends
-- whose replica did not record Linq's answer within the lease: each gets a
-- fresh lease of p_lease, as a retry's takeover claims it, so that a retry
-- arriving meanwhile waits (in_progress) instead of sending too, and two
-- recovery runs never take the same send (SKIP LOCKED).
--
-- A claimed send that will be resent takes its pair stamp as a takeover
-- does (send_admit_many): the stamp moves from its admission to now, or
-- comes back when it has left the window (a later admission pruned it), so
-- that the resend, which Linq may count as a new message, is in the pair's
-- window; a continuation stamp the send holds moves with it, to the next
-- microsecond. The moves are limits_admit's, under its ordered locks, after
-- the messages rows, as in a takeover. admitted_at and continuation_at
-- follow the stamps (MessageMarkSent and MessageMarkFailed look for them).
--
-- undeliverable: the user was deleted, got another handle or opted out
-- since the send was admitted, or there is nothing to resend: the job
-- marks it failed (MessageMarkFailed) and sends nothing, and its stamps
-- stay. s: limits_admit's settings.
CREATE OR REPLACE FUNCTION message_claim_expired(
    p_lease interval,
    p_batch integer,
    s       jsonb
) RETURNS TABLE (
    id              uuid,
    user_id         bigint,
    line_id         bigint,
    idempotency_key text,
    body            jsonb,
    handle          text,
    line_number     text,
    chat_id         text,
    admitted_at     timestamptz,
    continuation_at timestamptz,
    undeliverable   boolean
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    v_base    timestamptz := lg_now();
    v_us      interval := interval '1 microsecond';
    v_k       integer := 0;
    c_ids     uuid[] := '{}';
    c_ats     timestamptz[] := '{}';
    c_conts   timestamptz[] := '{}';
    t_lines   bigint[] := '{}';
    t_handles text[] := '{}';
    t_from    timestamptz[] := '{}';
    t_to      timestamptz[] := '{}';
    r         record;
BEGIN
    FOR r IN
        SELECT x.id, x.user_id, x.line_id, x.idempotency_key, x.body, x.handle, x.admitted_at AS at,
               x.continuation_at AS cont,
               x.body IS NULL OR NOT EXISTS (SELECT 1 FROM users AS u
                                              WHERE u.id = x.user_id AND u.handle = x.handle
                                                AND u.opted_out_at IS NULL) AS gone
          FROM messages AS x
         WHERE x.state = 'pending' AND x.lease_until < v_base
         ORDER BY x.lease_until
         LIMIT p_batch
           FOR UPDATE SKIP LOCKED
    LOOP
        id := r.id;
        user_id := r.user_id;
        line_id := r.line_id;
        idempotency_key := coalesce(r.idempotency_key, '');
        body := r.body;
        handle := r.handle;
        undeliverable := r.gone;
        admitted_at := r.at;
        continuation_at := r.cont;
        IF NOT r.gone THEN
            -- Each resend's own instants (see limits_admit).
            admitted_at := v_base + 2 * v_k * v_us;
            v_k := v_k + 1;
            t_lines := t_lines || r.line_id;
            t_handles := t_handles || r.handle;
            t_from := t_from || r.at;
            t_to := t_to || admitted_at;
            IF r.cont IS NOT NULL THEN
                continuation_at := admitted_at + v_us;
                t_lines := t_lines || r.line_id;
                t_handles := t_handles || r.handle;
                t_from := t_from || r.cont;
                t_to := t_to || continuation_at;
            END IF;
        END IF;
        c_ids := c_ids || r.id;
        c_ats := c_ats || admitted_at;
        c_conts := c_conts || continuation_at;
        SELECT l.number INTO line_number FROM lines AS l WHERE l.id = r.line_id;
        SELECT c.linq_chat_id INTO chat_id FROM chats AS c WHERE c.user_id = r.user_id AND c.line_id = r.line_id;
        chat_id := coalesce(chat_id, '');
        RETURN NEXT;
    END LOOP;
    IF cardinality(c_ids) = 0 THEN
        RETURN;
    END IF;

    UPDATE messages AS m
       SET lease_until = v_base + p_lease, updated_at = v_base, admitted_at = c.at, continuation_at = c.cont
      FROM unnest(c_ids, c_ats, c_conts) AS c(id, at, cont)
     WHERE m.id = c.id;
    IF cardinality(t_lines) > 0 THEN
        PERFORM 1 FROM limits_admit('{}'::bigint[], '{}'::boolean[], '{}'::integer[], '{}'::integer[], '{}'::text[], s,
                                    NULL, t_lines, t_handles, t_from, t_to);
    END IF;
END;
$$;
