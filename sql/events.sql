-- name: InsertDatabaseEvent :exec
INSERT INTO database_events (database_id, customer_id, kind, actor, request_id, remote_addr, details)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: ListDatabaseEvents :many
SELECT * FROM database_events WHERE database_id = $1 ORDER BY id;

-- name: ListEventsOfDatabases :many
SELECT * FROM database_events WHERE database_id = ANY (@database_ids::uuid[]) ORDER BY database_id, id;

-- name: InsertAuditEntry :exec
INSERT INTO audit_log (actor, action, resource, request_id, remote_addr, details)
VALUES ($1, $2, $3, $4, $5, $6);
