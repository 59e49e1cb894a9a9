-- pipeline_status covers every pipeline's tables (0003 knew only market data's): one row per table
-- with its row count, last event time and last write, then the dead letters. Same in both modes.
CREATE OR REPLACE VIEW pipeline_status AS
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
SELECT 'trading_fills', count(*), max(event_time), max(ingested_at) FROM trading_fills
UNION ALL
SELECT 'trading_rejections', count(*), max(event_time), max(ingested_at) FROM trading_rejections
UNION ALL
SELECT 'risk_approvals', count(*), max(event_time), max(ingested_at) FROM risk_approvals
UNION ALL
SELECT 'risk_position_history', count(*), max(event_time), max(ingested_at) FROM risk_position_history
UNION ALL
SELECT 'risk_breaker_transitions', count(*), max(event_time), max(ingested_at) FROM risk_breaker_transitions
UNION ALL
SELECT 'risk_trading_state_changes', count(*), max(event_time), max(ingested_at) FROM risk_trading_state_changes
UNION ALL
SELECT 'retail_listings', count(*), max(event_time), max(ingested_at) FROM retail_listings
UNION ALL
SELECT 'retail_matches', count(*), max(event_time), max(ingested_at) FROM retail_matches
UNION ALL
SELECT 'retail_match_reprices', count(*), max(event_time), max(ingested_at) FROM retail_match_reprices
UNION ALL
SELECT 'retail_match_retractions', count(*), max(event_time), max(ingested_at) FROM retail_match_retractions
UNION ALL
SELECT 'retail_glitches', count(*), max(event_time), max(ingested_at) FROM retail_glitches
UNION ALL
SELECT 'retail_opportunities', count(*), max(event_time), max(ingested_at) FROM retail_opportunities
UNION ALL
SELECT 'retail_opportunity_validations', count(*), max(event_time), max(ingested_at) FROM retail_opportunity_validations
UNION ALL
SELECT 'retail_opportunity_closures', count(*), max(event_time), max(ingested_at) FROM retail_opportunity_closures
UNION ALL
SELECT 'mercado_dead_letters', count(*), max(dead_at), max(dead_at) FROM mercado_dead_letters;
