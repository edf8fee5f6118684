-- name: UpsertServer :one
-- Registers a managed server, or updates its address and capacity.
INSERT INTO servers (name, engine, host, port, admin_dsn, admin_secret_path, capacity)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (name) DO UPDATE
SET host = EXCLUDED.host,
    port = EXCLUDED.port,
    admin_dsn = EXCLUDED.admin_dsn,
    admin_secret_path = EXCLUDED.admin_secret_path,
    capacity = EXCLUDED.capacity,
    updated_at = now()
WHERE servers.engine = EXCLUDED.engine
RETURNING *;

-- name: GetServer :one
SELECT * FROM servers WHERE id = $1;

-- name: ListServers :many
SELECT * FROM servers ORDER BY engine, name;

-- name: PickServer :one
-- The enabled server of an engine with the lowest load that still has room.
SELECT s.*
FROM servers s
WHERE s.engine = $1
  AND s.enabled
  AND (SELECT count(*) FROM databases d
       WHERE d.server_id = s.id AND d.status IN ('creating', 'active', 'deleting')) < s.capacity
ORDER BY (SELECT count(*) FROM databases d
          WHERE d.server_id = s.id AND d.status IN ('creating', 'active', 'deleting'))::float8 / s.capacity,
         s.id
LIMIT 1;
