-- +goose Up
-- A database whose restore could neither finish nor be undone (a swap
-- conflict) needs a human: attention_reason says why (shown to the
-- customer, who can still delete it), attention_op is the restore whose
-- leftovers (loaded copy, retired copy) a delete also removes. The status
-- stays 'active' so that every query that treats the name as taken still
-- does; the API shows such a database as status needs_attention.
ALTER TABLE databases ADD COLUMN attention_reason text, ADD COLUMN attention_op uuid REFERENCES operations (id);

-- An operation that stopped for good without being undone (it left the
-- database needing attention) is 'failed', so that the reconciler leaves it.
ALTER TABLE operations DROP CONSTRAINT operations_state_check;
ALTER TABLE operations ADD CONSTRAINT operations_state_check
    CHECK (state IN ('pending', 'succeeded', 'rolled_back', 'failed'));

-- Restores run as background jobs; this is what a client polls. The target
-- is where the snapshot goes (the addressed database, or the new one made
-- for target_db_name); the source is the database the request addressed.
-- operation_id links the restore's operation once it has started, in the
-- same transaction that records it, so the outcome of a restore whose
-- process died is read from its settled operation. Nothing secret here.
CREATE TABLE restores (
    id                 uuid        PRIMARY KEY,
    customer_id        text        NOT NULL,
    source_database_id uuid        NOT NULL REFERENCES databases (id),
    target_database_id uuid        NOT NULL REFERENCES databases (id),
    snapshot_id        text        NOT NULL,
    new_database       boolean     NOT NULL,
    status             text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    error              text,
    operation_id       uuid        REFERENCES operations (id),
    actor              text        NOT NULL,
    request_id         text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz
);
-- One restore at a time per target database.
CREATE UNIQUE INDEX restores_one_active ON restores (target_database_id) WHERE status IN ('pending', 'running');
CREATE INDEX restores_source ON restores (source_database_id, created_at);

-- +goose Down
DROP TABLE restores;
ALTER TABLE operations DROP CONSTRAINT operations_state_check;
ALTER TABLE operations ADD CONSTRAINT operations_state_check
    CHECK (state IN ('pending', 'succeeded', 'rolled_back'));
ALTER TABLE databases DROP COLUMN attention_op, DROP COLUMN attention_reason;
