-- send_admit_many is send_admit for a batch of concurrent sends, in one
-- statement and one commit (group commit). Each send gets send_admit's
-- own answer, numbered n (1-based, the order given), exactly as if it had
-- run alone after the sends before it.
--
-- The sends run in the order of the locks they take: by line, then handle,
-- then key. Every batch, on every replica, so takes the line_window rows in
-- ascending line order and a line's pair rows in handle order, and two
-- batches wait for each other instead of deadlocking. An empty user_ref or
-- handle stands for none.
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
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT i.*, coalesce(ur.current_line_id, uh.current_line_id) AS lid, coalesce(ur.handle, uh.handle) AS uhandle
          FROM (SELECT u.id, u.api_key_id, u.key, u.hash, nullif(u.user_ref, '') AS user_ref,
                       nullif(u.handle, '') AS handle, u.intent, u.body, u.k
                  FROM unnest(p_ids, p_api_key_ids, p_keys, p_hashes, p_user_refs, p_handles, p_intents, p_bodies)
                       WITH ORDINALITY AS u(id, api_key_id, key, hash, user_ref, handle, intent, body, k)) AS i
          LEFT JOIN users AS ur ON ur.user_ref = i.user_ref
          LEFT JOIN users AS uh ON i.user_ref IS NULL AND uh.handle = i.handle
         ORDER BY lid NULLS LAST, uhandle, i.key
    LOOP
        RETURN QUERY
            SELECT r.k::integer, a.*
              FROM send_admit(r.id, r.api_key_id, r.key, r.hash, r.user_ref, r.handle, r.intent, r.body, s) AS a;
    END LOOP;
END;
$$;
