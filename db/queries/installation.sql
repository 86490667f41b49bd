-- name: InstallationID :one
-- This database's random id (see the installation table).
SELECT id FROM installation;
