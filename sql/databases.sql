-- name: InsertDatabase :one
INSERT INTO databases (id, customer_id, engine, name, username, server_id, status, requested_name, vault_path, connection_limit)
VALUES ($1, $2, $3, $4, $5, $6, 'creating', $7, $8, $9)
RETURNING *;

-- name: GetLiveDatabase :one
-- A customer's database that is being created, is active, or is being deleted.
SELECT sqlc.embed(d), sqlc.embed(s)
FROM databases d JOIN servers s ON s.id = d.server_id
WHERE d.customer_id = $1 AND d.engine = $2 AND d.name = $3
  AND d.status IN ('creating', 'active', 'deleting');

-- name: GetDatabaseByID :one
SELECT sqlc.embed(d), sqlc.embed(s)
FROM databases d JOIN servers s ON s.id = d.server_id
WHERE d.id = $1;

-- name: ListLiveDatabasesByCustomer :many
SELECT sqlc.embed(d), sqlc.embed(s)
FROM databases d JOIN servers s ON s.id = d.server_id
WHERE d.customer_id = $1 AND d.engine = $2
  AND d.status IN ('creating', 'active', 'deleting')
ORDER BY d.created_at, d.name;

-- name: ListLiveDatabaseNamesByServer :many
SELECT name, username, status, ready_at FROM databases
WHERE server_id = $1 AND status IN ('creating', 'active', 'deleting');

-- name: MarkDatabaseActive :exec
UPDATE databases
SET status = 'active', vault_version = $2, ready_at = now(), updated_at = now()
WHERE id = $1 AND status = 'creating';

-- name: MarkDatabaseDeleting :exec
UPDATE databases SET status = 'deleting', updated_at = now()
WHERE id = $1 AND status = 'active';

-- name: MarkDatabaseDeleted :exec
UPDATE databases SET status = 'deleted', deleted_at = now(), updated_at = now()
WHERE id = $1 AND status = 'deleting';

-- name: MarkDatabaseFailed :exec
-- An interrupted create that was rolled back: nothing of it remains.
UPDATE databases SET status = 'failed', deleted_at = now(), updated_at = now()
WHERE id = $1 AND status = 'creating';

-- name: SetDatabaseVaultVersion :exec
UPDATE databases SET vault_version = $2, updated_at = now()
WHERE id = $1;

-- name: SetDatabaseConnectionLimit :exec
UPDATE databases SET connection_limit = $2, updated_at = now()
WHERE id = $1;

-- name: SetDatabaseDescription :exec
UPDATE databases SET description = $2, updated_at = now()
WHERE id = $1;

-- name: ListDatabaseHistory :many
-- Every database the customer had that existed on a server: active, being
-- deleted or deleted (not failed creates, which never existed). since keeps
-- databases alive at or after that time. Keyset pagination on (created_at, id).
SELECT sqlc.embed(d), s.name AS server_name
FROM databases d JOIN servers s ON s.id = d.server_id
WHERE d.customer_id = @customer_id
  AND d.status IN ('active', 'deleting', 'deleted')
  AND (sqlc.narg(engine)::text IS NULL OR d.engine = sqlc.narg(engine)::text)
  AND (@include_deleted::boolean OR d.status <> 'deleted')
  AND (sqlc.narg(since)::timestamptz IS NULL OR d.deleted_at IS NULL OR d.deleted_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (d.created_at, d.id) > (sqlc.narg(after_created_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY d.created_at, d.id
LIMIT @row_limit;

-- name: SetDatabaseAttention :exec
-- A database that needs a human (see migration 00007); changes answer 409
-- with the reason until it is deleted.
UPDATE databases SET attention_reason = $2, attention_op = $3, updated_at = now()
WHERE id = $1;
