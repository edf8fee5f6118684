-- +goose Up

-- Responses to requests sent with an Idempotency-Key, so that a retry gets
-- the first answer instead of a second change. A response that carried a
-- password is stored with the password replaced by a placeholder; the
-- password is read back from Vault (secret_path, secret_version) on replay.
CREATE TABLE idempotency_keys (
    api_key_id     uuid        NOT NULL,
    idem_key       text        NOT NULL,
    fingerprint    bytea       NOT NULL, -- SHA-256 of method, path, query and canonical body
    state          text        NOT NULL CHECK (state IN ('running', 'done')),
    status         integer,
    content_type   text,
    body           bytea,
    secret_path    text,
    secret_version integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- State changes that are not about one database (API keys), with the same
-- who/when/what/where as database_events.
CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    resource    text        NOT NULL,
    request_id  text        NOT NULL DEFAULT '',
    remote_addr text        NOT NULL DEFAULT '',
    details     jsonb       NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL DEFAULT now()
);

-- History pages walk a customer's databases in creation order.
CREATE INDEX databases_customer_history ON databases (customer_id, created_at, id);

-- +goose Down
DROP INDEX databases_customer_history;
DROP TABLE audit_log;
DROP TABLE idempotency_keys;
