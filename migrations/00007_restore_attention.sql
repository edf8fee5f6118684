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

-- +goose Down
ALTER TABLE operations DROP CONSTRAINT operations_state_check;
ALTER TABLE operations ADD CONSTRAINT operations_state_check
    CHECK (state IN ('pending', 'succeeded', 'rolled_back'));
ALTER TABLE databases DROP COLUMN attention_op, DROP COLUMN attention_reason;
