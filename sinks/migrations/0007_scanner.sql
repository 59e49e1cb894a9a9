-- The stock scanner's cold path (processors/scanner, seeds/scanner-persistence.md): the top N per session
-- and category, persisted at each interval boundary (hourly by default) and at each session's close, on
-- event time; nothing of the 10-second path. The same in both storage modes: ~14k rows a day at most.

CREATE TABLE scanner_top (
    event_id        text COLLATE "C" NOT NULL,
    event_time      timestamptz NOT NULL,  -- as of: the boundary, the close, or the manual run's board time
    scanner         text COLLATE "C" NOT NULL,
    trading_day     text NOT NULL,  -- New York date, YYYY-MM-DD
    session         text NOT NULL,
    category        text NOT NULL,
    rank            integer NOT NULL,
    ticker          text COLLATE "C" NOT NULL,
    score           double precision NOT NULL,
    price           double precision NOT NULL,
    change_pct      double precision NOT NULL,
    gap_pct         double precision NOT NULL,
    volume          bigint NOT NULL,
    relative_volume double precision,
    trigger         text NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time)
);
CREATE INDEX scanner_top_board ON scanner_top (scanner, session, event_time DESC);
CREATE INDEX scanner_top_ticker ON scanner_top (ticker, event_time);

-- The latest persisted board of each scanner and session: every line of its most recent as-of instant.
CREATE VIEW scanner_latest_board AS
SELECT t.scanner, t.trading_day, t.session, t.event_time AS as_of, t.trigger, t.category, t.rank, t.ticker,
       t.score, t.price, t.change_pct, t.gap_pct, t.volume, t.relative_volume
FROM scanner_top t
JOIN (SELECT scanner, session, max(event_time) AS as_of FROM scanner_top GROUP BY scanner, session) latest
  ON latest.scanner = t.scanner AND latest.session = t.session AND latest.as_of = t.event_time;

-- A ticker's category history: where it stood, in which category, at each persisted instant.
CREATE VIEW scanner_ticker_history AS
SELECT ticker, scanner, trading_day, session, event_time AS as_of, trigger, category, rank, score, price,
       change_pct, gap_pct
FROM scanner_top;
