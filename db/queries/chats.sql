-- name: ChatDeleteForUser :exec
-- A user's chats were opened with their old handle: once the handle changes
-- they are dropped, so the next send on a line opens a chat with the new one.
DELETE FROM chats WHERE user_id = @user_id;

-- name: ChatDeleteLost :execrows
-- Linq no longer knows the chat (a send on it answered 404): it is dropped,
-- unless another send already replaced it, so the next send opens a new one.
DELETE FROM chats
WHERE user_id = @user_id AND line_id = @line_id AND linq_chat_id = @linq_chat_id::text;
