-- The gateway's reservation of an Idempotency-Key (gateway/commands.py): a `commands` row is committed as
-- PENDING, with where the command's partition of its topic ended then, before the event is written, and
-- marked WRITTEN after. A retry that finds it PENDING (the gateway stopped in between) reads the command's
-- partition from that offset and writes the event only if it is not there. Rows the sink materializes from
-- the topic are WRITTEN (the default).
ALTER TABLE commands
    ADD COLUMN status        text NOT NULL DEFAULT 'WRITTEN' CHECK (status IN ('PENDING', 'WRITTEN')),
    ADD COLUMN log_partition integer,
    ADD COLUMN log_offset    bigint;
