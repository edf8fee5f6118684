-- name: InsertDatabaseMetrics :copyfrom
INSERT INTO database_metrics (database_id, measured_at, storage_bytes, active_connections, max_connections,
                              total_queries, queries_per_sec, cache_hit_ratio, cpu_percent, memory_percent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: InsertServerMetrics :exec
INSERT INTO server_metrics (server_id, measured_at, cpu_seconds, cpu_percent, memory_percent)
VALUES ($1, $2, $3, $4, $5);

-- name: LatestServerMetrics :one
SELECT * FROM server_metrics WHERE server_id = $1 ORDER BY measured_at DESC LIMIT 1;

-- name: LatestMetricsOfServer :many
-- The previous sample of each live database on a server, for rates.
SELECT DISTINCT ON (m.database_id) m.database_id, m.measured_at, m.total_queries
FROM database_metrics m JOIN databases d ON d.id = m.database_id
WHERE d.server_id = $1 AND d.status = 'active'
ORDER BY m.database_id, m.measured_at DESC;

-- name: LiveDatabasesOfServer :many
SELECT id, name, customer_id FROM databases WHERE server_id = $1 AND status = 'active';

-- name: LatestDatabaseMetrics :one
SELECT * FROM database_metrics WHERE database_id = $1 ORDER BY measured_at DESC LIMIT 1;

-- name: DatabaseMetricsSeries :many
SELECT * FROM database_metrics
WHERE database_id = $1 AND measured_at >= $2 AND measured_at <= $3
ORDER BY measured_at
LIMIT 10000;

-- name: ThinDatabaseMetrics :execrows
-- Past the raw retention, keep the first sample of each hour; past the
-- retention, nothing.
DELETE FROM database_metrics m
WHERE m.measured_at < @keep_all_after::timestamptz
  AND (m.measured_at < @keep_none_before::timestamptz
       OR m.measured_at <> (SELECT min(measured_at) FROM database_metrics f
                            WHERE f.database_id = m.database_id
                              AND date_trunc('hour', f.measured_at) = date_trunc('hour', m.measured_at)));

-- name: DeleteOldServerMetrics :execrows
DELETE FROM server_metrics WHERE measured_at < @keep_none_before::timestamptz;
