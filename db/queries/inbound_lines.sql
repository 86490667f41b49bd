-- name: InboundLineByNumber :one
SELECT id FROM lines WHERE number = @number::text;
