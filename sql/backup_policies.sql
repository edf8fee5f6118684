-- name: GetBackupPolicy :one
SELECT * FROM backup_policies WHERE database_id = $1;

-- name: UpsertBackupPolicy :one
INSERT INTO backup_policies (database_id, enabled, frequency, retention_days, time_of_day, timezone, next_backup_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (database_id) DO UPDATE
SET enabled = EXCLUDED.enabled, frequency = EXCLUDED.frequency, retention_days = EXCLUDED.retention_days,
    time_of_day = EXCLUDED.time_of_day, timezone = EXCLUDED.timezone, next_backup_at = EXCLUDED.next_backup_at,
    updated_at = now()
RETURNING *;

-- name: ClaimDueBackups :many
-- Policies whose next backup is due, locked so that concurrent schedulers
-- (several Cellar processes) each take different ones.
SELECT p.*, d.name AS database_name, d.engine, d.customer_id
FROM backup_policies p JOIN databases d ON d.id = p.database_id
WHERE p.enabled AND p.next_backup_at <= @now::timestamptz AND d.status = 'active'
ORDER BY p.next_backup_at
LIMIT 100
FOR UPDATE OF p SKIP LOCKED;

-- name: SetNextBackup :exec
UPDATE backup_policies SET next_backup_at = $2, updated_at = now() WHERE database_id = $1;

-- name: LastScheduledBackup :one
SELECT created_at FROM snapshots
WHERE database_id = $1 AND kind = 'scheduled' AND status = 'completed' AND deleted_at IS NULL
ORDER BY created_at DESC
LIMIT 1;
