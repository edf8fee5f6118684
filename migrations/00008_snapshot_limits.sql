-- +goose Up

-- At most one manual snapshot is being taken per database at a time. The
-- service refuses a second manual create (409 naming the one in flight);
-- this index makes the rule hold under concurrent creates. Scheduled
-- backups are not limited here: their policy bounds them, and a manual
-- snapshot must never be able to make the scheduler skip one.
-- Manual snapshots already queued twice are settled first: the oldest
-- in-flight one of each database stays (a running one before a pending
-- one), the others are marked failed (their job then finds them no longer
-- pending and does nothing).
UPDATE snapshots s SET status = 'failed', completed_at = now(),
    error = 'superseded: another snapshot of this database was already being taken'
WHERE s.kind = 'manual' AND s.status IN ('pending', 'running') AND s.deleted_at IS NULL
  AND EXISTS (SELECT 1 FROM snapshots o
              WHERE o.database_id = s.database_id AND o.kind = 'manual'
                AND o.status IN ('pending', 'running') AND o.deleted_at IS NULL
                AND (o.status = 'running' AND s.status = 'pending'
                     OR o.status = s.status AND (o.created_at, o.id) < (s.created_at, s.id)));
CREATE UNIQUE INDEX snapshots_one_manual_in_flight ON snapshots (database_id)
    WHERE kind = 'manual' AND status IN ('pending', 'running') AND deleted_at IS NULL;

-- A running snapshot's worker touches heartbeat_at while it works. One whose
-- process died stays 'running' until River rescues its job (hours later);
-- a stale heartbeat lets a new manual snapshot fail it instead of being
-- refused for hours because of it.
ALTER TABLE snapshots ADD COLUMN heartbeat_at timestamptz;

-- Per-customer snapshot limits; NULL uses the configured default.
ALTER TABLE customer_quotas
    ADD COLUMN max_snapshots   integer          CHECK (max_snapshots >= 0),
    ADD COLUMN max_snapshot_gb double precision CHECK (max_snapshot_gb >= 0);

-- +goose Down
ALTER TABLE customer_quotas DROP COLUMN max_snapshot_gb, DROP COLUMN max_snapshots;
DROP INDEX snapshots_one_manual_in_flight;
ALTER TABLE snapshots DROP COLUMN heartbeat_at;
