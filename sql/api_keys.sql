-- name: InsertAPIKey :one
INSERT INTO api_keys (id, prefix, key_hash, name, customer_id, permissions, internal, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: GetActiveAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: GetAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = $1;

-- name: ListAPIKeys :many
SELECT * FROM api_keys ORDER BY created_at, prefix;

-- name: RevokeAPIKey :one
UPDATE api_keys SET revoked_at = now()
WHERE id = $1 AND revoked_at IS NULL
RETURNING *;

-- name: TouchAPIKey :exec
-- Records use at most once a minute, so authentication stays a read.
UPDATE api_keys SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: CountActiveAdminKeys :one
SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND 'admin' = ANY (permissions);

-- name: ListAPIKeysByCustomer :many
-- The keys a customer's own admin key may see and revoke: its customer's,
-- never an internal key.
SELECT * FROM api_keys WHERE customer_id = $1 AND NOT internal ORDER BY created_at, prefix;
