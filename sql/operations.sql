-- name: InsertOperation :one
INSERT INTO operations (id, database_id, kind, actor, request_id)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: InsertOperationWithDetails :one
INSERT INTO operations (id, database_id, kind, actor, request_id, details)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetPendingOperation :one
SELECT * FROM operations WHERE database_id = $1 AND state = 'pending';

-- name: ListPendingOperations :many
SELECT * FROM operations WHERE state = 'pending' ORDER BY created_at LIMIT $1;

-- name: FinishOperation :exec
UPDATE operations SET state = $2, finished_at = now(), updated_at = now()
WHERE id = $1 AND state = 'pending';

-- name: RecordOperationFailure :exec
-- Notes a failed attempt; the operation stays pending for the reconciler.
UPDATE operations SET attempts = attempts + 1, error = $2, updated_at = now()
WHERE id = $1 AND state = 'pending';

-- name: SetOperationDetails :exec
UPDATE operations SET details = $2, updated_at = now() WHERE id = $1 AND state = 'pending';

-- name: GetOperation :one
SELECT * FROM operations WHERE id = $1;
