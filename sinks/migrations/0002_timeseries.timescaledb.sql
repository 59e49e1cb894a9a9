-- TimescaleDB: time-series tables become hypertables (7-day chunks; `mercado db migrate` then sets
-- the configured chunk interval, compression and retention policies), compressed segmented by
-- instrument, and 1 h / 1 d bars are continuous aggregates of the 1-minute bars. The aggregates
-- are real-time (materialized_only = false), so they answer like the plain views of
-- 0002_timeseries.plain.sql. Unique keys include the time column (a hypertable requirement), and
-- every key column is a segmentby or orderby column (a compression requirement).

SELECT create_hypertable('md_bars', 'start_time', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('md_gaps', 'start_time', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('md_indicators', 'bar_start', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('md_data_quality', 'hour_start', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('md_late_ticks', 'event_time', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('alerts', 'event_time', chunk_time_interval => INTERVAL '7 days');

ALTER TABLE md_bars SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'venue, symbol',
    timescaledb.compress_orderby = 'interval_s, start_time DESC'
);
ALTER TABLE md_gaps SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'venue, symbol',
    timescaledb.compress_orderby = 'start_time DESC, event_id'
);
ALTER TABLE md_indicators SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'venue, symbol',
    timescaledb.compress_orderby = 'bar_start DESC, event_id'
);
ALTER TABLE md_data_quality SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'venue, symbol',
    timescaledb.compress_orderby = 'hour_start DESC, event_id'
);
ALTER TABLE md_late_ticks SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'venue, symbol',
    timescaledb.compress_orderby = 'event_time DESC, event_id'
);
ALTER TABLE alerts SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'alert_key',
    timescaledb.compress_orderby = 'event_time DESC, event_id'
);

CREATE MATERIALIZED VIEW md_bars_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT venue,
       symbol,
       time_bucket(INTERVAL '1 hour', start_time) AS bucket,
       first(open, start_time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, start_time) AS close,
       sum(volume) AS volume,
       sum(vwap * volume) / NULLIF(sum(volume), 0) AS vwap,
       sum(tick_count) AS tick_count,
       count(*) AS bar_count
FROM md_bars
WHERE interval_s = 60
GROUP BY venue, symbol, time_bucket(INTERVAL '1 hour', start_time)
WITH NO DATA;

CREATE MATERIALIZED VIEW md_bars_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT venue,
       symbol,
       time_bucket(INTERVAL '1 day', start_time) AS bucket,
       first(open, start_time) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, start_time) AS close,
       sum(volume) AS volume,
       sum(vwap * volume) / NULLIF(sum(volume), 0) AS vwap,
       sum(tick_count) AS tick_count,
       count(*) AS bar_count
FROM md_bars
WHERE interval_s = 60
GROUP BY venue, symbol, time_bucket(INTERVAL '1 day', start_time)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('md_bars_1h',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes');
SELECT add_continuous_aggregate_policy('md_bars_1d',
    start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');
