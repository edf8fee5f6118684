-- +goose Up

-- Managed database servers. Several per engine may exist; creation places a
-- database on one of its engine. The admin password is not here: it lives in
-- Vault at admin_secret_path.
CREATE TABLE servers (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text        NOT NULL UNIQUE,
    engine            text        NOT NULL CHECK (engine IN ('postgresql', 'mariadb')),
    host              text        NOT NULL, -- address customers connect to
    port              integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
    admin_dsn         text        NOT NULL, -- without password
    admin_secret_path text        NOT NULL,
    capacity          integer     NOT NULL CHECK (capacity > 0),
    enabled           boolean     NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- API keys, stored as SHA-256 of the whole key: keys are 256-bit random
-- tokens, so a slow password hash adds nothing but latency.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    prefix       text        NOT NULL UNIQUE,
    key_hash     bytea       NOT NULL UNIQUE,
    name         text        NOT NULL DEFAULT '',
    customer_id  text        NOT NULL,
    permissions  text[]      NOT NULL,
    internal     boolean     NOT NULL DEFAULT false,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Customer databases, including deleted and failed ones (history, billing).
-- status: creating -> active -> deleting -> deleted; creating -> failed when
-- an interrupted create is rolled back.
CREATE TABLE databases (
    id               uuid        PRIMARY KEY,
    customer_id      text        NOT NULL,
    engine           text        NOT NULL CHECK (engine IN ('postgresql', 'mariadb')),
    name             text        NOT NULL,
    username         text        NOT NULL,
    server_id        bigint      NOT NULL REFERENCES servers (id),
    status           text        NOT NULL CHECK (status IN ('creating', 'active', 'deleting', 'deleted', 'failed')),
    requested_name   text,
    description      text,
    connection_limit integer,
    vault_path       text        NOT NULL,
    vault_version    integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    ready_at         timestamptz,
    deleted_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A name is taken while its database is being created, lives, or is being
-- deleted; after that it may be reused by a new database.
CREATE UNIQUE INDEX databases_live_name ON databases (engine, name)
    WHERE status IN ('creating', 'active', 'deleting');
CREATE INDEX databases_customer ON databases (customer_id, engine, created_at);
CREATE INDEX databases_server ON databases (server_id) WHERE status IN ('creating', 'active', 'deleting');

-- Operations record the intent of every multi-step change before it acts.
-- A pending operation whose owner died is finished or rolled back by the
-- reconciler.
CREATE TABLE operations (
    id          uuid        PRIMARY KEY,
    database_id uuid        NOT NULL REFERENCES databases (id),
    kind        text        NOT NULL,
    state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'rolled_back')),
    error       text,
    attempts    integer     NOT NULL DEFAULT 0,
    actor       text        NOT NULL,
    request_id  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE UNIQUE INDEX operations_one_pending ON operations (database_id) WHERE state = 'pending';

-- What happened to each database, in order: for history, audit and billing.
CREATE TABLE database_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    database_id uuid        NOT NULL REFERENCES databases (id),
    customer_id text        NOT NULL,
    kind        text        NOT NULL,
    actor       text        NOT NULL,
    request_id  text        NOT NULL DEFAULT '',
    remote_addr text        NOT NULL DEFAULT '',
    details     jsonb       NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX database_events_database ON database_events (database_id, id);
CREATE INDEX database_events_customer ON database_events (customer_id, id);

-- +goose Down
DROP TABLE database_events;
DROP TABLE operations;
DROP TABLE databases;
DROP TABLE api_keys;
DROP TABLE servers;
