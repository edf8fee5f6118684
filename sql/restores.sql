-- name: InsertRestore :one
INSERT INTO restores (id, customer_id, source_database_id, target_database_id, snapshot_id, new_database, actor, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: GetRestore :one
SELECT * FROM restores WHERE id = $1;

-- name: GetCustomerRestore :one
-- A restore as its customer polls it, addressed through its source database.
SELECT * FROM restores
WHERE id = $1 AND customer_id = $2 AND source_database_id = $3;

-- name: StartRestore :exec
-- Links the restore's operation, in the transaction that records it.
UPDATE restores SET status = 'running', operation_id = $2, started_at = now()
WHERE id = $1 AND status IN ('pending', 'running');

-- name: FinishRestore :exec
UPDATE restores SET status = $2, error = $3, finished_at = now()
WHERE id = $1 AND status IN ('pending', 'running');

-- name: GetRestoreByOperation :one
SELECT * FROM restores WHERE operation_id = $1;
