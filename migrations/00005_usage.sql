-- +goose Up

-- Per-customer limits that differ from the configured defaults (null:
-- use the default).
CREATE TABLE customer_quotas (
    customer_id    text        PRIMARY KEY,
    max_databases  integer     CHECK (max_databases >= 0),
    max_storage_gb double precision CHECK (max_storage_gb >= 0),
    max_postgresql integer     CHECK (max_postgresql >= 0),
    max_mariadb    integer     CHECK (max_mariadb >= 0),
    updated_by     text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The billing outbox: every billable change is written here in the same
-- transaction as the change, and delivered to the billing endpoint until
-- acknowledged. seq orders them; id lets the receiver deduplicate.
CREATE TABLE usage_events (
    id              uuid        PRIMARY KEY,
    seq             bigint      NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id     text        NOT NULL,
    database_id     uuid,
    kind            text        NOT NULL,
    payload         jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    period_start    timestamptz,
    delivered_at    timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE UNIQUE INDEX usage_events_hourly_once ON usage_events (database_id, period_start) WHERE kind = 'usage.hourly';
CREATE INDEX usage_events_undelivered ON usage_events (seq) WHERE delivered_at IS NULL;
CREATE INDEX usage_events_customer ON usage_events (customer_id, seq);

-- Samples of each database's figures, taken by the collector.
CREATE TABLE database_metrics (
    database_id        uuid             NOT NULL REFERENCES databases (id),
    measured_at        timestamptz      NOT NULL,
    storage_bytes      bigint           NOT NULL,
    active_connections integer          NOT NULL,
    max_connections    integer          NOT NULL,
    total_queries      bigint           NOT NULL,
    queries_per_sec    double precision,
    cache_hit_ratio    double precision,
    cpu_percent        double precision,
    memory_percent     double precision,
    PRIMARY KEY (database_id, measured_at)
);

-- The server-level figures behind cpu_percent (a rate between samples).
CREATE TABLE server_metrics (
    server_id      bigint           NOT NULL REFERENCES servers (id),
    measured_at    timestamptz      NOT NULL,
    cpu_seconds    double precision,
    cpu_percent    double precision,
    memory_percent double precision,
    PRIMARY KEY (server_id, measured_at)
);

-- +goose Down
DROP TABLE server_metrics;
DROP TABLE database_metrics;
DROP TABLE usage_events;
DROP TABLE customer_quotas;
