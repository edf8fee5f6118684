-- +goose Up
-- The last backup is read from the snapshots themselves: writing it on the
-- policy row made every completed snapshot contend with the scheduler's
-- claim of that row.
ALTER TABLE backup_policies DROP COLUMN last_backup_at;

-- +goose Down
ALTER TABLE backup_policies ADD COLUMN last_backup_at timestamptz;
