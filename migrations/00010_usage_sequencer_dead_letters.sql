-- +goose Up

-- seq was an identity value taken at INSERT, before commit: a transaction
-- that took seq 10 and committed after one that took seq 11 was invisible
-- to a reader whose cursor had already passed 10, so the event was never
-- pulled. From now on seq is assigned after commit by a single sequencer
-- (SequenceUsageEvents, under an advisory lock): a row is NULL until it is
-- numbered, and every number handed out is final and in order.
-- insert_order only orders the rows of one sequencer pass (the order they
-- were recorded in); it is never shown.
ALTER TABLE usage_events ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE usage_events ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE usage_events ADD COLUMN insert_order bigint NOT NULL GENERATED ALWAYS AS IDENTITY;
CREATE INDEX usage_events_unsequenced ON usage_events (insert_order) WHERE seq IS NULL;

-- An event the billing endpoint refused CELLAR_BILLING_MAX_ATTEMPTS times
-- is set aside (dead-lettered) so the ones after it are delivered; an
-- operator re-queues it once the endpoint is fixed.
ALTER TABLE usage_events ADD COLUMN dead_lettered_at timestamptz;
DROP INDEX usage_events_undelivered;
CREATE INDEX usage_events_undelivered ON usage_events (seq)
    WHERE delivered_at IS NULL AND dead_lettered_at IS NULL AND seq IS NOT NULL;
CREATE INDEX usage_events_dead_letters ON usage_events (seq) WHERE dead_lettered_at IS NOT NULL;

-- +goose Down
DROP INDEX usage_events_dead_letters;
DROP INDEX usage_events_undelivered;
CREATE INDEX usage_events_undelivered ON usage_events (seq) WHERE delivered_at IS NULL;
ALTER TABLE usage_events DROP COLUMN dead_lettered_at;
UPDATE usage_events u SET seq = n.seq
FROM (SELECT id, (SELECT coalesce(max(seq), 0) FROM usage_events) + row_number() OVER (ORDER BY insert_order) AS seq
      FROM usage_events WHERE seq IS NULL) n
WHERE u.id = n.id;
DROP INDEX usage_events_unsequenced;
ALTER TABLE usage_events DROP COLUMN insert_order;
ALTER TABLE usage_events ALTER COLUMN seq SET NOT NULL;
ALTER TABLE usage_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('usage_events', 'seq'), coalesce(max(seq), 0) + 1, false) FROM usage_events;
