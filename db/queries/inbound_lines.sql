-- name: InboundLineByNumber :one
SELECT id FROM lines WHERE number = @number::text;

-- name: InboundLineByChat :one
-- The line of a message that does not name it (no owner_handle): the line
-- of the Linq chat Linegate created, else the sender's current line.
SELECT l.id, l.number
FROM lines AS l
WHERE l.id = coalesce(
    (SELECT c.line_id FROM chats AS c WHERE c.linq_chat_id = @linq_chat_id::text ORDER BY c.created_at DESC LIMIT 1),
    (SELECT u.current_line_id FROM users AS u WHERE u.handle = @handle::text)
);
