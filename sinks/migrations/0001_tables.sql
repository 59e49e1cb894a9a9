-- Mercado sink: tables shared by both storage modes (plain PostgreSQL and TimescaleDB).
--
-- Every table a mapping writes (sinks/tables.toml) has the mapped columns plus `ingested_at` (when the
-- sink last wrote the row). Immutable events are keyed by (event_id, <time column>): TimescaleDB
-- requires the partitioning column in every unique key, and both modes share the same keys. Text
-- keys use the "C" collation (byte order: cheaper comparisons, same order on every host).
-- CHECK constraints keep impossible values (NaN or infinite prices, high < low, negative counts)
-- out: the sink isolates such rows into mercado_dead_letters instead of failing the batch.

CREATE TABLE md_bars (
    venue         text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    interval_s    integer NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision NOT NULL,
    vwap          double precision,
    tick_count    integer NOT NULL,
    price_source  text NOT NULL,
    session       text,
    revision      integer NOT NULL,
    event_id      text NOT NULL,
    event_time    timestamptz NOT NULL,
    first_tick_id text NOT NULL,
    last_tick_id  text NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue, symbol, interval_s, start_time),
    CONSTRAINT md_bars_interval_positive CHECK (interval_s > 0 AND end_time > start_time),
    CONSTRAINT md_bars_prices_finite CHECK (
        open > '-Infinity' AND open < 'Infinity' AND high > '-Infinity' AND high < 'Infinity'
        AND low > '-Infinity' AND low < 'Infinity' AND close > '-Infinity' AND close < 'Infinity'
        AND (vwap IS NULL OR (vwap > '-Infinity' AND vwap < 'Infinity'))
    ),
    CONSTRAINT md_bars_ohlc_consistent CHECK (low <= open AND open <= high AND low <= close AND close <= high),
    CONSTRAINT md_bars_volume_valid CHECK (volume >= 0 AND volume < 'Infinity'),
    CONSTRAINT md_bars_tick_count_valid CHECK (tick_count >= 0),
    CONSTRAINT md_bars_revision_valid CHECK (revision >= 0)
);

CREATE TABLE md_gaps (
    event_id     text COLLATE "C" NOT NULL,
    event_time   timestamptz NOT NULL,
    venue        text COLLATE "C" NOT NULL,
    symbol       text COLLATE "C" NOT NULL,
    interval_s   integer NOT NULL,
    start_time   timestamptz NOT NULL,
    end_time     timestamptz NOT NULL,
    missing_bars integer NOT NULL,
    session      text,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, start_time),
    CONSTRAINT md_gaps_interval_valid CHECK (interval_s > 0 AND end_time > start_time),
    CONSTRAINT md_gaps_missing_bars_positive CHECK (missing_bars > 0)
);
CREATE INDEX md_gaps_instrument_time ON md_gaps (venue, symbol, interval_s, start_time);

CREATE TABLE md_indicators (
    event_id     text COLLATE "C" NOT NULL,
    event_time   timestamptz NOT NULL,
    venue        text COLLATE "C" NOT NULL,
    symbol       text COLLATE "C" NOT NULL,
    interval_s   integer NOT NULL,
    bar_start    timestamptz NOT NULL,
    bar_event_id text NOT NULL,
    close        double precision NOT NULL,
    sma          double precision,
    ema          double precision,
    rsi          double precision,
    macd         double precision,
    macd_signal  double precision,
    macd_hist    double precision,
    bb_upper     double precision,
    bb_middle    double precision,
    bb_lower     double precision,
    atr          double precision,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, bar_start),
    CONSTRAINT md_indicators_close_finite CHECK (close > '-Infinity' AND close < 'Infinity'),
    CONSTRAINT md_indicators_rsi_range CHECK (rsi IS NULL OR rsi BETWEEN 0 AND 100),
    CONSTRAINT md_indicators_atr_valid CHECK (atr IS NULL OR (atr >= 0 AND atr < 'Infinity')),
    CONSTRAINT md_indicators_bands_ordered CHECK (
        bb_lower IS NULL OR bb_upper IS NULL OR (bb_lower <= bb_upper AND bb_upper < 'Infinity')
    )
);
CREATE INDEX md_indicators_instrument_time ON md_indicators (venue, symbol, interval_s, bar_start);

CREATE TABLE md_data_quality (
    event_id             text COLLATE "C" NOT NULL,
    event_time           timestamptz NOT NULL,
    venue                text COLLATE "C" NOT NULL,
    symbol               text COLLATE "C" NOT NULL,
    hour_start           timestamptz NOT NULL,
    interval_s           integer NOT NULL,
    expected_bars        integer NOT NULL,
    present_bars         integer NOT NULL,
    coverage_pct         double precision,
    tick_count           bigint NOT NULL,
    late_ticks           bigint NOT NULL,
    max_inter_tick_gap_s double precision,
    latency_p50_ms       double precision,
    latency_p95_ms       double precision,
    latency_p99_ms       double precision,
    ingested_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, hour_start),
    CONSTRAINT md_data_quality_counts_valid CHECK (
        interval_s > 0 AND expected_bars >= 0 AND present_bars >= 0 AND tick_count >= 0 AND late_ticks >= 0
    ),
    CONSTRAINT md_data_quality_coverage_valid CHECK (
        coverage_pct IS NULL OR (coverage_pct >= 0 AND coverage_pct < 'Infinity')
    )
);
CREATE INDEX md_data_quality_instrument_time ON md_data_quality (venue, symbol, hour_start);

CREATE TABLE md_late_ticks (
    event_id         text COLLATE "C" NOT NULL,
    event_time       timestamptz NOT NULL,
    venue            text COLLATE "C" NOT NULL,
    symbol           text COLLATE "C" NOT NULL,
    watermark        timestamptz NOT NULL,
    lateness_us      bigint NOT NULL,
    tick_event_id    text NOT NULL,
    tick_bid         double precision,
    tick_ask         double precision,
    tick_last        double precision,
    tick_volume      double precision NOT NULL,
    tick_sequence    bigint NOT NULL,
    tick_backfill_id text,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT md_late_ticks_lateness_valid CHECK (lateness_us >= 0)
);

CREATE TABLE alerts (
    event_id         text COLLATE "C" NOT NULL,
    event_time       timestamptz NOT NULL,
    alert_key        text NOT NULL,
    source           text NOT NULL,
    kind             text NOT NULL,
    level            text NOT NULL,
    message          text NOT NULL,
    value            double precision,
    threshold        double precision,
    suppressed_count integer NOT NULL,
    caused_by        text,
    details          jsonb NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT alerts_level_valid CHECK (level IN ('INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    CONSTRAINT alerts_suppressed_count_valid CHECK (suppressed_count >= 0)
);
CREATE INDEX alerts_key_time ON alerts (alert_key, event_time);

-- Messages the sink could not write: undecodable, of an unmapped record type, or rejected by the
-- database. One row per source message (a replay never duplicates it).
CREATE TABLE mercado_dead_letters (
    topic          text NOT NULL,
    partition      integer NOT NULL,
    "offset"       bigint NOT NULL,
    message_key    bytea,
    message_value  bytea,
    reason         text NOT NULL,
    error          text NOT NULL,
    record_type    text,
    record         jsonb,
    consumer_group text NOT NULL,
    dead_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX mercado_dead_letters_dead_at ON mercado_dead_letters (dead_at);

-- The next Kafka offset to read per consumer group and partition, written in the same transaction
-- as the rows: the sink seeks here on start and after every rebalance (Kafka's committed offsets
-- are informational only).
CREATE TABLE mercado_sink_offsets (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    next_offset    bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
