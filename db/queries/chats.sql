-- name: ChatDeleteForUser :exec
-- A user's chats were opened with their old handle: once the handle changes
-- they are dropped, so the next send on a line opens a chat with the new one.
DELETE FROM chats WHERE user_id = @user_id;
