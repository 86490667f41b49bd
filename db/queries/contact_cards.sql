-- name: ContactCardUpsertMany :exec
-- Records the lines whose card now has @first_name, in one statement. A row
-- that already says so is left alone: rewriting every line's row on each
-- sync would only churn the table.
INSERT INTO line_contact_cards (line_id, first_name, synced_at)
SELECT unnest(@line_ids::bigint[]), @first_name::text, @synced_at::timestamptz
ON CONFLICT (line_id) DO UPDATE SET first_name = excluded.first_name, synced_at = excluded.synced_at
WHERE line_contact_cards.first_name IS DISTINCT FROM excluded.first_name;

-- name: ContactCardShareFirstDue :many
-- Chats opened since @active_since (a user's first message on that line,
-- as after a failover) on the user's current line whose card was never
-- shared there, found by when they were opened: none is missed however
-- many messages the pool sends.
SELECT c.user_id, c.line_id, c.linq_chat_id
FROM chats c
JOIN users u ON u.id = c.user_id AND u.current_line_id = c.line_id
WHERE c.created_at >= @active_since::timestamptz
  AND NOT EXISTS (SELECT 1 FROM contact_card_shares s WHERE s.user_id = c.user_id AND s.line_id = c.line_id)
LIMIT @max_rows;

-- name: ContactCardShareDue :many
-- Chats whose line's card should be shared again now: the user was sent a
-- message on that line lately, and the card was never shared there or last
-- before @shared_before. "Lately" is the newest @max_scan sent messages
-- since @active_since, read newest first along the id index (ids are
-- UUIDv7, and @ids_since, a bound before @active_since with slack for the
-- clocks that made them, prunes the day partitions): the work of a run
-- stays bounded however many messages a day holds, and it stops at
-- @max_rows. A chat may come once per message scanned; the caller shares
-- each chat once.
SELECT c.user_id, c.line_id, c.linq_chat_id
FROM (SELECT m.user_id, m.line_id
      FROM messages m
      WHERE m.id >= message_id_floor(@ids_since::timestamptz) AND m.state = 'sent'
        AND m.created_at >= @active_since::timestamptz
      ORDER BY m.id DESC
      LIMIT @max_scan::int) r
JOIN chats c ON c.user_id = r.user_id AND c.line_id = r.line_id
JOIN users u ON u.id = c.user_id AND u.current_line_id = c.line_id
LEFT JOIN contact_card_shares s ON s.user_id = c.user_id AND s.line_id = c.line_id
WHERE s.shared_at IS NULL OR s.shared_at < @shared_before::timestamptz
LIMIT @max_rows;

-- name: ContactCardShareRecordMany :exec
-- Records shares of one run in one statement (user_ids[i] on line_ids[i]).
INSERT INTO contact_card_shares (user_id, line_id, shared_at)
SELECT t.user_id, t.line_id, @shared_at::timestamptz
FROM (SELECT unnest(@user_ids::bigint[]) AS user_id, unnest(@line_ids::bigint[]) AS line_id) AS t
ON CONFLICT (user_id, line_id) DO UPDATE SET shared_at = excluded.shared_at;
