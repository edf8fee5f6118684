-- name: InsertSnapshot :one
INSERT INTO snapshots (id, database_id, customer_id, engine, kind, status, description, storage_key, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9)
RETURNING *;

-- name: GetSnapshot :one
SELECT * FROM snapshots WHERE id = $1;

-- name: GetCustomerSnapshot :one
SELECT * FROM snapshots
WHERE customer_id = $1 AND database_id = $2 AND id = $3 AND deleted_at IS NULL;

-- name: ListSnapshots :many
-- A database's snapshots, newest first.
SELECT * FROM snapshots
WHERE customer_id = $1 AND database_id = $2 AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC;

-- name: StartSnapshot :one
UPDATE snapshots SET status = 'running', started_at = now(), bytes_written = 0, error = NULL
WHERE id = $1 AND status IN ('pending', 'running') AND deleted_at IS NULL
RETURNING *;

-- name: SnapshotProgress :exec
UPDATE snapshots SET bytes_written = $2 WHERE id = $1 AND status = 'running';

-- name: CompleteSnapshot :exec
UPDATE snapshots
SET status = 'completed', size_bytes = $2, bytes_written = $2, sha256 = $3, server_version = $4, completed_at = now()
WHERE id = $1 AND status = 'running';

-- name: FailSnapshot :exec
UPDATE snapshots SET status = 'failed', error = $2, completed_at = now()
WHERE id = $1 AND status IN ('pending', 'running');

-- name: DeleteSnapshot :exec
UPDATE snapshots SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL;

-- name: ListExpiredScheduledSnapshots :many
-- Scheduled snapshots older than their database's retention.
SELECT s.* FROM snapshots s
JOIN backup_policies p ON p.database_id = s.database_id
WHERE s.kind = 'scheduled' AND s.deleted_at IS NULL AND s.status IN ('completed', 'failed')
  AND s.created_at + p.retention_days * interval '1 day' < sqlc.arg(now)::timestamptz;

-- name: ListSnapshotsOfDeletedDatabases :many
-- A deleted database's snapshots go with it: no endpoint could reach them,
-- and they would still count as stored backups.
SELECT s.* FROM snapshots s JOIN databases d ON d.id = s.database_id
WHERE d.status = 'deleted' AND s.deleted_at IS NULL AND s.status <> 'running';

-- name: SumSnapshotBytes :one
SELECT coalesce(sum(size_bytes), 0)::bigint FROM snapshots
WHERE customer_id = $1 AND deleted_at IS NULL AND status = 'completed';

-- name: ListLiveStorageKeys :many
SELECT storage_key FROM snapshots WHERE deleted_at IS NULL;
