-- name: ChatGet :one
SELECT * FROM chats WHERE user_id = @user_id AND line_id = @line_id;
