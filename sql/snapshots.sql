-- name: InsertSnapshot :one
-- No row when a manual snapshot of the database is already in flight
-- (snapshots_one_manual_in_flight).
INSERT INTO snapshots (id, database_id, customer_id, engine, kind, status, description, storage_key, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9)
ON CONFLICT (database_id) WHERE kind = 'manual' AND status IN ('pending', 'running') AND deleted_at IS NULL DO NOTHING
RETURNING *;

-- name: GetInFlightSnapshot :one
-- The oldest snapshot of a database still pending or running, of any kind.
SELECT * FROM snapshots
WHERE customer_id = $1 AND database_id = $2 AND status IN ('pending', 'running') AND deleted_at IS NULL
ORDER BY created_at, id
LIMIT 1;

-- name: CustomerSnapshotUsage :one
-- What counts against a customer's snapshot limits: every snapshot that
-- holds or will hold a file. A completed one counts its size; one being
-- taken counts the bytes its dump has written so far (the file on disk
-- now). Failed ones hold no file and count for nothing.
SELECT count(*)::int AS snapshots,
       coalesce(sum(CASE WHEN status = 'completed' THEN coalesce(size_bytes, 0) ELSE bytes_written END), 0)::bigint AS bytes
FROM snapshots
WHERE customer_id = $1 AND deleted_at IS NULL AND status IN ('pending', 'running', 'completed');

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
UPDATE snapshots SET status = 'running', started_at = now(), heartbeat_at = now(), bytes_written = 0, error = NULL
WHERE id = $1 AND status IN ('pending', 'running') AND deleted_at IS NULL
RETURNING *;

-- name: SnapshotHeartbeat :exec
UPDATE snapshots SET heartbeat_at = now() WHERE id = $1 AND status = 'running';

-- name: FailAbandonedSnapshot :execrows
-- A running snapshot whose worker has not been heard of for stale_seconds:
-- its process died. Its job, rescued later, finds it failed and does
-- nothing; the reconciler removes its partial file.
UPDATE snapshots SET status = 'failed', completed_at = now(),
    error = 'the dump was interrupted: the process taking it stopped'
WHERE id = $1 AND status = 'running'
  AND coalesce(heartbeat_at, started_at) < now() - make_interval(secs => @stale_seconds::int);

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
-- Scheduled snapshots older than their enabled policy's retention. A
-- completed one expires only while at least keep newer completed scheduled
-- snapshots of the database remain (keep >= 1), so retention never removes
-- the last good backup: when the newer ones all failed, the old one stays.
-- Manual snapshots do not count as the newer good one: their owner may
-- delete them at any time. A failed snapshot holds no data and expires by
-- age alone.
SELECT s.* FROM snapshots s
JOIN backup_policies p ON p.database_id = s.database_id
WHERE p.enabled AND s.kind = 'scheduled' AND s.deleted_at IS NULL AND s.status IN ('completed', 'failed')
  AND s.created_at + p.retention_days * interval '1 day' < sqlc.arg(now)::timestamptz
  AND (s.status = 'failed' OR (
        SELECT count(*) FROM snapshots n
        WHERE n.database_id = s.database_id AND n.kind = 'scheduled' AND n.status = 'completed' AND n.deleted_at IS NULL
          AND (n.created_at, n.id) > (s.created_at, s.id)) >= sqlc.arg(keep)::int)
ORDER BY s.created_at, s.id;

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
