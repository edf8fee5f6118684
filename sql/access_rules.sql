-- name: InsertAccessRule :one
INSERT INTO access_rules (id, database_id, customer_id, source, description, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: ListAccessRules :many
-- A customer's live rules on one database, oldest first.
SELECT * FROM access_rules
WHERE customer_id = $1 AND database_id = $2 AND deleted_at IS NULL
ORDER BY created_at, id;

-- name: GetAccessRule :one
SELECT * FROM access_rules
WHERE customer_id = $1 AND database_id = $2 AND id = $3 AND deleted_at IS NULL;

-- name: GetAccessRuleBySource :one
SELECT * FROM access_rules
WHERE database_id = $1 AND source = $2 AND deleted_at IS NULL;

-- name: CountAccessRules :one
SELECT count(*) FROM access_rules WHERE database_id = $1 AND deleted_at IS NULL;

-- name: DeleteAccessRule :exec
UPDATE access_rules SET deleted_at = now(), deleted_by = $2
WHERE id = $1 AND deleted_at IS NULL;

-- name: DeleteAccessRulesOfDatabase :exec
UPDATE access_rules SET deleted_at = now(), deleted_by = $2
WHERE database_id = $1 AND deleted_at IS NULL;

-- name: ListAccessPolicyRows :many
-- Every live database of a server with its live rules (one row per rule, or
-- one row with a null source for a database without rules): the input of
-- the access policy the server is converged to.
SELECT d.name, d.username, r.id AS rule_id, r.source
FROM databases d
LEFT JOIN access_rules r ON r.database_id = d.id AND r.deleted_at IS NULL
WHERE d.server_id = $1 AND d.status IN ('creating', 'active', 'deleting')
ORDER BY d.name, r.source;
