-- +goose Up
-- No secret is ever kept in idempotency_keys (issue 10, item 6). A response
-- that carried one (Cache-Control: no-store) is kept only as a redacted
-- record: its status, its body with every secret-bearing member removed,
-- and secret_withheld, so a replay can say that the secret was shown once.
ALTER TABLE idempotency_keys ADD COLUMN secret_withheld boolean NOT NULL DEFAULT false;

-- Records written before this migration: key creations stored the new API
-- key in the clear, and responses with a password kept a pointer to it in
-- Vault. Neither body is kept; their replays answer "shown once".
UPDATE idempotency_keys
SET body = NULL, secret_withheld = true
WHERE secret_path IS NOT NULL
   OR position(convert_to('"key":"', 'UTF8') IN body) > 0
   OR position(convert_to('"password":"', 'UTF8') IN body) > 0
   OR position(convert_to('"connection_string":"', 'UTF8') IN body) > 0;

ALTER TABLE idempotency_keys DROP COLUMN secret_path, DROP COLUMN secret_version;

-- +goose Down
ALTER TABLE idempotency_keys ADD COLUMN secret_path text, ADD COLUMN secret_version integer;
ALTER TABLE idempotency_keys DROP COLUMN secret_withheld;
