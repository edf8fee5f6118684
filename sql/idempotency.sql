-- name: ClaimIdempotencyKey :one
-- Claims a key for a new request. Returns no row if the key is taken by a
-- live entry; an entry older than the retention, or a 'running' one whose
-- request died (older than stale_after), is taken over.
INSERT INTO idempotency_keys (api_key_id, idem_key, fingerprint, state)
VALUES (@api_key_id, @idem_key, @fingerprint, 'running')
ON CONFLICT (api_key_id, idem_key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, state = 'running', status = NULL, content_type = NULL,
    body = NULL, secret_withheld = false, created_at = now(), updated_at = now()
WHERE idempotency_keys.created_at < now() - make_interval(secs => @retention_secs::float8)
   OR (idempotency_keys.state = 'running' AND idempotency_keys.updated_at < now() - make_interval(secs => @stale_after_secs::float8))
RETURNING *;

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2;

-- name: CompleteIdempotencyKey :exec
-- body never holds a secret: for a response that carried one, the caller
-- stores a redacted body (or none) and sets secret_withheld.
UPDATE idempotency_keys
SET state = 'done', status = $3, content_type = $4, body = $5, secret_withheld = $6, updated_at = now()
WHERE api_key_id = $1 AND idem_key = $2 AND state = 'running';

-- name: ReleaseIdempotencyKey :exec
-- Forgets a key whose request failed in a way worth retrying (5xx).
DELETE FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2 AND state = 'running';

-- name: DeleteExpiredIdempotencyKeys :execrows
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => @retention_secs::float8);
