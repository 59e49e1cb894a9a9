-- Commands as events (gateway/commands.py, processors/commands.py): the command log and each command's result.
--
-- `commands` is the index of the command topics (risk.commands.v1): the sink materializes every Command
-- (so dropping the database and replaying gives it back), and the gateway inserts the same row first, in
-- the transaction that writes the event, as the idempotency guard (ON CONFLICT on the key: a repeated
-- Idempotency-Key writes nothing). `command_results` is mercado.command-results.v1 (the owners' decisions).

CREATE TABLE commands (
    idempotency_key text COLLATE "C" PRIMARY KEY,
    event_id        text COLLATE "C" NOT NULL,
    event_time      timestamptz NOT NULL,  -- issued at: the gateway's clock when it received the request
    actor           text NOT NULL,         -- the API key's name
    kind            text NOT NULL,
    owner           text NOT NULL,
    target          text COLLATE "C" NOT NULL,
    params          jsonb NOT NULL,
    body_sha256     text NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commands_time ON commands (event_time DESC, idempotency_key);

CREATE TABLE command_results (
    idempotency_key text COLLATE "C" PRIMARY KEY,
    event_id        text COLLATE "C" NOT NULL,
    event_time      timestamptz NOT NULL,  -- when the owner decided (its event-time clock)
    kind            text NOT NULL,
    owner           text NOT NULL,
    target          text COLLATE "C" NOT NULL,
    status          text NOT NULL,         -- ACCEPTED / REJECTED
    reason          text,
    message         text NOT NULL,
    caused          jsonb NOT NULL,
    caused_by       text NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now()
);
