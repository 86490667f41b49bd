-- name: LineLedgerListByUser :many
SELECT * FROM line_ledger WHERE user_id = @user_id ORDER BY created_at, id;
