-- name: ContactCardUpsert :exec
INSERT INTO line_contact_cards (line_id, first_name, synced_at)
VALUES (@line_id, @first_name, @synced_at::timestamptz)
ON CONFLICT (line_id) DO UPDATE SET first_name = excluded.first_name, synced_at = excluded.synced_at;

-- name: ContactCardShareDue :many
-- Chats whose line's card should be shared now: the user was sent a message
-- on that line since @active_since, and the card was never shared there or
-- last before @shared_before.
SELECT c.user_id, c.line_id, c.linq_chat_id
FROM chats c
JOIN users u ON u.id = c.user_id AND u.current_line_id = c.line_id
LEFT JOIN contact_card_shares s ON s.user_id = c.user_id AND s.line_id = c.line_id
WHERE (s.shared_at IS NULL OR s.shared_at < @shared_before::timestamptz)
  AND EXISTS (SELECT 1 FROM messages m
              WHERE m.user_id = c.user_id AND m.line_id = c.line_id AND m.state = 'sent'
                AND m.created_at >= @active_since::timestamptz)
ORDER BY c.user_id
LIMIT @max_rows;

-- name: ContactCardShareRecord :exec
INSERT INTO contact_card_shares (user_id, line_id, shared_at)
VALUES (@user_id, @line_id, @shared_at::timestamptz)
ON CONFLICT (user_id, line_id) DO UPDATE SET shared_at = excluded.shared_at;
