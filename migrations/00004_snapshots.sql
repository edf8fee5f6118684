-- +goose Up

-- Logical backups of databases. The file lives in the snapshot store under
-- storage_key; the row says what it is and whether it is complete. A file
-- is published only when complete, so a row that is not 'completed' never
-- points at something that looks usable.
CREATE TABLE snapshots (
    id             text        PRIMARY KEY, -- snap_YYYYMMDD_HHMMSS_xxxxxxxx
    database_id    uuid        NOT NULL REFERENCES databases (id),
    customer_id    text        NOT NULL,
    engine         text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('manual', 'scheduled')),
    status         text        NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    description    text,
    storage_key    text        NOT NULL,
    bytes_written  bigint      NOT NULL DEFAULT 0,
    size_bytes     bigint,
    sha256         text,
    server_version text,
    error          text,
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    completed_at   timestamptz,
    deleted_at     timestamptz
);
CREATE INDEX snapshots_database ON snapshots (database_id, created_at DESC) WHERE deleted_at IS NULL;

-- Automated backups, one policy per database.
CREATE TABLE backup_policies (
    database_id    uuid        PRIMARY KEY REFERENCES databases (id),
    enabled        boolean     NOT NULL,
    frequency      text        NOT NULL CHECK (frequency IN ('hourly', 'daily', 'weekly')),
    retention_days integer     NOT NULL CHECK (retention_days BETWEEN 1 AND 365),
    time_of_day    text        NOT NULL, -- HH:MM in timezone
    timezone       text        NOT NULL,
    last_backup_at timestamptz,
    next_backup_at timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_policies_due ON backup_policies (next_backup_at) WHERE enabled;

-- Multi-step operations that need to remember names they made up (the
-- temporary database of a restore).
ALTER TABLE operations ADD COLUMN details jsonb NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE operations DROP COLUMN details;
DROP TABLE backup_policies;
DROP TABLE snapshots;
