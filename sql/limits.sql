-- name: ListActiveDatabaseLimitsByServer :many
-- The connection limits the metadata wants on one server's databases, for
-- the reconciler's drift check.
SELECT id, engine, name, username, connection_limit, ready_at FROM databases
WHERE server_id = $1 AND status = 'active';
