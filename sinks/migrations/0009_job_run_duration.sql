-- A job run's processing time (issue #22): the live worker stamps each shard's JobRun with the wall time it
-- took to process the JobRequested (header mercado-processing-us, PipelineSpec.timed_outputs; the payload's
-- duration_ms stays null so that a replay equals the live run byte for byte), and the sink writes it to
-- job_run_shards.duration_ms (sinks/tables.recommendations.toml: a header column). job_runs gains the
-- slowest shard's time (the shards run in parallel): null while no shard of the run was timed.

CREATE OR REPLACE VIEW job_runs AS
SELECT job AS job_name, run_date, min(cutoff) AS start_time,
       CASE WHEN count(*) = max(shards) THEN max(ingested_at) END AS end_time,
       CASE WHEN count(*) < max(shards) THEN 'running'
            WHEN bool_or(status = 'FAILED') THEN 'failed' ELSE 'completed' END AS status,
       count(*) AS shards_reported, max(shards) AS shards,
       sum(tickers_processed)::integer AS tickers_processed, sum(errors_count)::integer AS errors_count,
       jsonb_agg(errors ORDER BY shard) FILTER (WHERE errors_count > 0) AS log_data,
       min(trigger) AS trigger, min(ingested_at) AS created_at,
       max(duration_ms) AS duration_ms
FROM job_run_shards
GROUP BY job, run_date;
