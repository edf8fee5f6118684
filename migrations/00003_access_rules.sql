-- +goose Up

-- Network sources allowed to reach a database. The metadata is the desired
-- state: the engine's rules (pg_hba section, MariaDB user hosts) and the host
-- firewall are converged to the live rows. Deleted rules are kept for audit.
CREATE TABLE access_rules (
    id          uuid        PRIMARY KEY,
    database_id uuid        NOT NULL REFERENCES databases (id),
    customer_id text        NOT NULL,
    source      cidr        NOT NULL,
    description text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_by  text,
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX access_rules_live_source ON access_rules (database_id, source) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE access_rules;
