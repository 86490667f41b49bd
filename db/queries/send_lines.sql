-- name: LineMarkIneligible :exec
-- Linq answered 403/2027: the line cannot send. It stops taking signups and
-- its users' sends answer 503 until the health work fails them over or the
-- line is seen active again.
UPDATE lines
SET ineligible_at = coalesce(ineligible_at, lg_now()),
    status_changed_at = CASE WHEN ineligible_at IS NULL THEN lg_now() ELSE status_changed_at END,
    updated_at = lg_now()
WHERE id = @id;
