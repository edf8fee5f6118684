-- name: InsertDatabaseEvent :exec
INSERT INTO database_events (database_id, customer_id, kind, actor, request_id, remote_addr, details)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: ListDatabaseEvents :many
SELECT * FROM database_events WHERE database_id = $1 ORDER BY id;

-- name: InsertAuditEntry :exec
INSERT INTO audit_log (actor, action, resource, request_id, remote_addr, details)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: ListRecentEventsOfDatabases :many
-- The newest @per_database events of each database, so that a history page
-- stays bounded however busy a database was. Ask for one more than shown to
-- learn whether older events exist.
SELECT e.id, e.database_id, e.customer_id, e.kind, e.actor, e.request_id, e.remote_addr, e.details, e.occurred_at
FROM unnest(@database_ids::uuid[]) AS d (id)
CROSS JOIN LATERAL (
    SELECT * FROM database_events ev
    WHERE ev.customer_id = @customer_id AND ev.database_id = d.id
    ORDER BY ev.id DESC
    LIMIT @per_database::int
) e
ORDER BY e.database_id, e.id;

-- name: ListDatabaseEventsBefore :many
-- A page of one database's events older than @before_id, newest first.
SELECT * FROM database_events
WHERE customer_id = @customer_id AND database_id = @database_id AND id < @before_id
ORDER BY id DESC
LIMIT @row_limit::int;
