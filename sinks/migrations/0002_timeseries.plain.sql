-- Plain PostgreSQL (no TimescaleDB): BRIN indexes for time-range scans (tiny, nearly free to
-- maintain on append-mostly data) and ordinary views that give the same answers as the
-- TimescaleDB continuous aggregates of 0002_timeseries.timescaledb.sql: 1 h and 1 d bars built
-- from 1-minute bars, buckets aligned to UTC.

CREATE INDEX md_bars_start_time_brin ON md_bars USING brin (start_time);
CREATE INDEX md_gaps_start_time_brin ON md_gaps USING brin (start_time);
CREATE INDEX md_indicators_bar_start_brin ON md_indicators USING brin (bar_start);
CREATE INDEX md_data_quality_hour_start_brin ON md_data_quality USING brin (hour_start);
CREATE INDEX md_late_ticks_event_time_brin ON md_late_ticks USING brin (event_time);
CREATE INDEX alerts_event_time_brin ON alerts USING brin (event_time);

CREATE VIEW md_bars_1h AS
SELECT venue,
       symbol,
       date_bin(INTERVAL '1 hour', start_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       (array_agg(open ORDER BY start_time))[1] AS open,
       max(high) AS high,
       min(low) AS low,
       (array_agg(close ORDER BY start_time DESC))[1] AS close,
       sum(volume) AS volume,
       sum(vwap * volume) / NULLIF(sum(volume), 0) AS vwap,
       sum(tick_count) AS tick_count,
       count(*) AS bar_count
FROM md_bars
WHERE interval_s = 60
GROUP BY venue, symbol, date_bin(INTERVAL '1 hour', start_time, TIMESTAMPTZ '2000-01-01 00:00:00+00');

CREATE VIEW md_bars_1d AS
SELECT venue,
       symbol,
       date_bin(INTERVAL '1 day', start_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       (array_agg(open ORDER BY start_time))[1] AS open,
       max(high) AS high,
       min(low) AS low,
       (array_agg(close ORDER BY start_time DESC))[1] AS close,
       sum(volume) AS volume,
       sum(vwap * volume) / NULLIF(sum(volume), 0) AS vwap,
       sum(tick_count) AS tick_count,
       count(*) AS bar_count
FROM md_bars
WHERE interval_s = 60
GROUP BY venue, symbol, date_bin(INTERVAL '1 day', start_time, TIMESTAMPTZ '2000-01-01 00:00:00+00');
