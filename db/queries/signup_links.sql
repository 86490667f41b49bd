-- name: SignupLinkLatest :one
SELECT * FROM signup_links
WHERE user_id = @user_id AND expires_at > @now::timestamptz
ORDER BY expires_at DESC
LIMIT 1;

-- name: SignupLinkCreate :one
INSERT INTO signup_links (token, user_id, body, expires_at, created_at)
VALUES (@token, @user_id, @body, @expires_at::timestamptz, @now::timestamptz)
RETURNING *;

-- name: SignupLinkResolve :one
-- A live link with what its public pages show: the user's current line and
-- the whole line set in order (home first).
SELECT sl.token, sl.body, sl.expires_at, u.code, cur.number AS current_number,
       (SELECT array_agg(l.number ORDER BY ul.position)
        FROM user_lines ul JOIN lines l ON l.id = ul.line_id
        WHERE ul.user_id = u.id)::text[] AS numbers
FROM signup_links sl
JOIN users u ON u.id = sl.user_id
JOIN lines cur ON cur.id = u.current_line_id
WHERE sl.token = @token AND sl.expires_at > @now::timestamptz;

-- name: SignupLinkPrune :execrows
-- Links expired more than @keep ago, in a bounded batch; an expired link
-- resolves to nothing already.
DELETE FROM signup_links
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM signup_links
    WHERE expires_at < (SELECT lg_now() - @keep::interval)
    ORDER BY expires_at
    LIMIT @batch::integer
));
