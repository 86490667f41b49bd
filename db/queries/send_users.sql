-- name: UserGetForSend :one
-- A user with their current line and their chat on it, for typing and the
-- contact card.
SELECT u.id, u.user_ref, u.handle, u.opted_out_at, u.last_inbound_at,
       l.id AS line_id, l.number AS line_number,
       p.may_send::boolean AS line_ok, coalesce(p.why, '')::text AS line_why,
       c.linq_chat_id
FROM users AS u
JOIN lines AS l ON l.id = u.current_line_id
CROSS JOIN LATERAL line_policy(l, @settings::jsonb, lg_now()) AS p
LEFT JOIN chats AS c ON c.user_id = u.id AND c.line_id = u.current_line_id
WHERE u.user_ref = @user_ref;

-- name: UserMarkOptedOut :exec
-- Linq answered 403/2024 for this user.
UPDATE users
SET opted_out_at = coalesce(opted_out_at, @at::timestamptz), opt_out_source = coalesce(opt_out_source, @source::text),
    updated_at = @at::timestamptz
WHERE id = @id;
