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

-- name: TryLockUsageSequencer :one
-- One sequencer at a time, until the end of its transaction. A caller that
-- does not get the lock skips sequencing: whoever holds it numbers the
-- same committed rows, and waiting would only hold a pooled connection.
SELECT pg_try_advisory_xact_lock(hashtextextended('usage/sequencer', 0));

-- name: SequenceUsageEvents :execrows
-- Numbers committed, unnumbered events after the highest seq, in the order
-- they were recorded. Runs under TryLockUsageSequencer, in its own
-- statement, so it sees every earlier pass's numbers: a pass commits all
-- its numbers at once, and the next pass starts after that commit, so a
-- reader that sees a seq sees every smaller one.
UPDATE usage_events u SET seq = n.seq
FROM (SELECT id, (SELECT coalesce(max(seq), 0) FROM usage_events) + row_number() OVER (ORDER BY insert_order) AS seq
      FROM usage_events WHERE seq IS NULL ORDER BY insert_order LIMIT @max_rows) n
WHERE u.id = n.id;

-- name: ListDeliverableUsageEvents :many
-- The oldest numbered events not yet delivered nor set aside, in order.
SELECT * FROM usage_events
WHERE delivered_at IS NULL AND dead_lettered_at IS NULL AND seq IS NOT NULL
ORDER BY seq
LIMIT $1;

-- name: MarkUsageEventDelivered :exec
UPDATE usage_events SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1;

-- name: MarkUsageEventFailed :exec
UPDATE usage_events SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1;

-- name: MarkUsageEventDeadLettered :exec
-- The last allowed attempt failed: the event is set aside, so delivery
-- moves on to the next one.
UPDATE usage_events SET attempts = attempts + 1, last_error = $2, dead_lettered_at = now() WHERE id = $1;

-- name: ListDeadLetteredUsageEvents :many
-- Dead-lettered events after a cursor (seq), in order, for operators.
SELECT * FROM usage_events
WHERE dead_lettered_at IS NOT NULL AND seq > @after_seq::bigint
ORDER BY seq
LIMIT @row_limit;

-- name: CountDeadLetteredUsageEvents :one
SELECT count(*)::bigint FROM usage_events WHERE dead_lettered_at IS NOT NULL;

-- name: GetUsageEvent :one
SELECT * FROM usage_events WHERE id = $1;

-- name: RequeueUsageEvent :one
-- A dead letter goes back to the head of delivery (it keeps its seq) with
-- a fresh allowance of attempts.
UPDATE usage_events SET dead_lettered_at = NULL, attempts = 0, next_attempt_at = now()
WHERE id = $1 AND dead_lettered_at IS NOT NULL
RETURNING *;

-- name: TryLockUsageDelivery :one
-- One delivery pass at a time across all processes (session lock, held on
-- one connection for the pass): two passes would send the same events
-- twice and out of order.
SELECT pg_try_advisory_lock(hashtextextended('usage/delivery', 0));

-- name: UnlockUsageDelivery :exec
SELECT pg_advisory_unlock(hashtextextended('usage/delivery', 0));

-- name: ListUsageEvents :many
-- Numbered events after a cursor (seq), in order, for pulling. Rows not
-- yet numbered (seq NULL) never match, so a cursor never passes an event
-- that is still to come.
SELECT * FROM usage_events
WHERE seq > @after_seq::bigint AND (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
ORDER BY seq
LIMIT @row_limit;

-- name: ListDatabasesForUsage :many
-- Every live database with its latest sampled size and its stored backups.
SELECT d.id, d.customer_id, d.engine, d.name,
       coalesce((SELECT storage_bytes FROM database_metrics WHERE database_id = d.id ORDER BY measured_at DESC LIMIT 1), 0)::bigint AS storage_bytes,
       coalesce((SELECT sum(size_bytes) FROM snapshots WHERE database_id = d.id AND deleted_at IS NULL AND status = 'completed'), 0)::bigint AS backup_bytes
FROM databases d WHERE d.status = 'active';
