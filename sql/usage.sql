-- name: GetCustomerQuota :one
SELECT * FROM customer_quotas WHERE customer_id = $1;

-- name: UpsertCustomerQuota :one
INSERT INTO customer_quotas (customer_id, max_databases, max_storage_gb, max_postgresql, max_mariadb, max_snapshots, max_snapshot_gb, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (customer_id) DO UPDATE
SET max_databases = EXCLUDED.max_databases, max_storage_gb = EXCLUDED.max_storage_gb,
    max_postgresql = EXCLUDED.max_postgresql, max_mariadb = EXCLUDED.max_mariadb,
    max_snapshots = EXCLUDED.max_snapshots, max_snapshot_gb = EXCLUDED.max_snapshot_gb,
    updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING *;

-- name: LockCustomerQuota :exec
-- Serialises the quota check and the name reservation of one customer's
-- creates, until the end of the transaction.
SELECT pg_advisory_xact_lock(hashtextextended('quota/' || @customer_id::text, 0));

-- name: CountLiveDatabasesByEngine :many
SELECT engine, count(*)::int AS n FROM databases
WHERE customer_id = $1 AND status IN ('creating', 'active', 'deleting')
GROUP BY engine;

-- name: CustomerStorageBytes :one
-- The latest sampled size of each of the customer's live databases, summed.
SELECT coalesce(sum(m.storage_bytes), 0)::bigint FROM databases d
JOIN LATERAL (SELECT storage_bytes FROM database_metrics WHERE database_id = d.id ORDER BY measured_at DESC LIMIT 1) m ON true
WHERE d.customer_id = $1 AND d.status IN ('creating', 'active', 'deleting');

-- name: InsertUsageEvent :exec
INSERT INTO usage_events (id, customer_id, database_id, kind, payload, occurred_at, period_start)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING;

-- name: ListDeliverableUsageEvents :many
-- The oldest undelivered events, in order, up to the first one that is
-- still backing off: delivery keeps the order.
SELECT * FROM usage_events
WHERE delivered_at IS NULL
ORDER BY seq
LIMIT $1;

-- name: MarkUsageEventDelivered :exec
UPDATE usage_events SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1;

-- name: MarkUsageEventFailed :exec
UPDATE usage_events SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1;

-- name: ListUsageEvents :many
-- Events after a cursor (seq), in order, for pulling.
SELECT * FROM usage_events
WHERE seq > @after_seq AND (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
ORDER BY seq
LIMIT @row_limit;

-- name: ListDatabasesForUsage :many
-- Every live database with its latest sampled size and its stored backups.
SELECT d.id, d.customer_id, d.engine, d.name,
       coalesce((SELECT storage_bytes FROM database_metrics WHERE database_id = d.id ORDER BY measured_at DESC LIMIT 1), 0)::bigint AS storage_bytes,
       coalesce((SELECT sum(size_bytes) FROM snapshots WHERE database_id = d.id AND deleted_at IS NULL AND status = 'completed'), 0)::bigint AS backup_bytes
FROM databases d WHERE d.status = 'active';
