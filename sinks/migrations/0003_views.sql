-- Views the USD/COP real-time users rely on (seeds/usdcop-realtime.md), the same in both modes.

-- The current price of every instrument: the close of its latest bar of its smallest interval.
-- A loose index scan (recursive CTE over the primary key) finds the instruments without reading
-- every bar.
CREATE VIEW latest_market_data AS
WITH RECURSIVE instruments AS (
    (SELECT venue, symbol FROM md_bars ORDER BY venue, symbol LIMIT 1)
    UNION ALL
    SELECT following.venue, following.symbol
    FROM instruments i
    CROSS JOIN LATERAL (
        SELECT b.venue, b.symbol
        FROM md_bars b
        WHERE (b.venue, b.symbol) > (i.venue, i.symbol)
        ORDER BY b.venue, b.symbol
        LIMIT 1
    ) following
)
SELECT latest.venue,
       latest.symbol,
       latest.close AS price,
       latest.end_time AS as_of,
       latest.interval_s,
       latest.price_source,
       latest.start_time AS bar_start,
       latest.revision,
       latest.event_id
FROM instruments i
CROSS JOIN LATERAL (
    SELECT b.*
    FROM md_bars b
    WHERE b.venue = i.venue
      AND b.symbol = i.symbol
      AND b.interval_s = (SELECT min(m.interval_s) FROM md_bars m WHERE m.venue = i.venue AND m.symbol = i.symbol)
    ORDER BY b.start_time DESC
    LIMIT 1
) latest;

-- Daily OHLC per instrument (UTC days, from 1-minute bars).
CREATE VIEW intraday_summary AS
SELECT venue,
       symbol,
       (bucket AT TIME ZONE 'UTC')::date AS day,
       open,
       high,
       low,
       close,
       close - open AS change,
       (close - open) / NULLIF(open, 0) * 100 AS change_pct,
       high - low AS range,
       volume,
       vwap,
       tick_count,
       bar_count
FROM md_bars_1d;

-- Data quality per instrument and hour, with the gaps detected in that hour.
CREATE VIEW data_quality_monitor AS
SELECT q.venue,
       q.symbol,
       q.hour_start,
       q.interval_s,
       q.expected_bars,
       q.present_bars,
       GREATEST(q.expected_bars - q.present_bars, 0) AS missing_bars,
       q.coverage_pct,
       q.tick_count,
       q.late_ticks,
       coalesce(g.gap_count, 0) AS gap_count,
       coalesce(g.gap_bars, 0) AS gap_bars,
       q.max_inter_tick_gap_s,
       q.latency_p50_ms,
       q.latency_p95_ms,
       q.latency_p99_ms
FROM md_data_quality q
LEFT JOIN LATERAL (
    SELECT count(*) AS gap_count, sum(gaps.missing_bars) AS gap_bars
    FROM md_gaps gaps
    WHERE gaps.venue = q.venue
      AND gaps.symbol = q.symbol
      AND gaps.interval_s = q.interval_s
      AND gaps.start_time >= q.hour_start
      AND gaps.start_time < q.hour_start + INTERVAL '1 hour'
) g ON true;

-- Freshness and size of every sink table.
CREATE VIEW pipeline_status AS
SELECT 'md_bars' AS table_name, count(*) AS row_count, max(event_time) AS last_event_time,
       max(ingested_at) AS last_written_at FROM md_bars
UNION ALL
SELECT 'md_gaps', count(*), max(event_time), max(ingested_at) FROM md_gaps
UNION ALL
SELECT 'md_indicators', count(*), max(event_time), max(ingested_at) FROM md_indicators
UNION ALL
SELECT 'md_data_quality', count(*), max(event_time), max(ingested_at) FROM md_data_quality
UNION ALL
SELECT 'md_late_ticks', count(*), max(event_time), max(ingested_at) FROM md_late_ticks
UNION ALL
SELECT 'alerts', count(*), max(event_time), max(ingested_at) FROM alerts
UNION ALL
SELECT 'mercado_dead_letters', count(*), max(dead_at), max(dead_at) FROM mercado_dead_letters;
