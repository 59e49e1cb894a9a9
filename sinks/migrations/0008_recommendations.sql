-- Daily recommendations (processors/recommendations, seeds/daily-batch-recommendations.md): the seed's
-- daily_recommendations, analysis_details and job_runs, in both storage modes (plain tables: a few
-- thousand rows a day). Scores are double precision rounded to 2 decimals by the job (the seed's
-- DECIMAL(5,2)); dates are the events' YYYY-MM-DD text.
--
-- One row per (analysis_date, ticker): the first Recommendation of the date is kept (a re-run of the
-- date carries the same event id and changes nothing). analysis_details is a view over the details each
-- recommendation carries (jsonb), so the two cannot disagree. The job writes one JobRun per shard of
-- tickers (job_run_shards); job_runs adds them up per run: complete once every shard reported.

CREATE TABLE daily_recommendations (
    analysis_date     text COLLATE "C" NOT NULL,  -- YYYY-MM-DD, as on the event
    ticker            text COLLATE "C" NOT NULL,
    market            text NOT NULL,
    recommendation    text NOT NULL,
    total_score       double precision NOT NULL,
    confidence        double precision NOT NULL,
    technical_score   double precision,
    fundamental_score double precision,
    macro_score       double precision,
    sentiment_score   double precision,
    current_price     double precision NOT NULL,
    target_price      double precision NOT NULL,
    risk_level        text NOT NULL,
    summary           text NOT NULL,
    last_bar_date     text NOT NULL,
    cutoff            timestamptz NOT NULL,
    inputs_hash       text NOT NULL,
    model_version     text NOT NULL,
    data_issues       jsonb NOT NULL,
    analysis_details  jsonb NOT NULL,
    event_id          text NOT NULL,
    event_time        timestamptz NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (analysis_date, ticker),
    CONSTRAINT daily_recommendations_label CHECK (recommendation IN ('BUY', 'HOLD', 'SELL'))
);
CREATE INDEX daily_recommendations_ticker ON daily_recommendations (ticker, analysis_date DESC);

CREATE VIEW analysis_details AS
SELECT r.analysis_date, r.ticker, d ->> 'analysis_type' AS analysis_type,
       (d ->> 'raw_data')::jsonb AS raw_data, (d ->> 'indicators')::jsonb AS indicators,
       (d ->> 'score')::double precision AS score, (d ->> 'metadata')::jsonb AS metadata, r.ingested_at AS created_at
FROM daily_recommendations r, jsonb_array_elements(r.analysis_details) AS d;

-- the latest recommendation of each ticker
CREATE VIEW latest_recommendations AS
SELECT DISTINCT ON (ticker) *
FROM daily_recommendations
ORDER BY ticker, analysis_date DESC;

-- each ticker's recommendations over time, with the previous one's label and score beside it
CREATE VIEW recommendation_history AS
SELECT analysis_date, ticker, recommendation, total_score, confidence, current_price, target_price, risk_level,
       lag(recommendation) OVER w AS previous_recommendation,
       total_score - lag(total_score) OVER w AS score_change
FROM daily_recommendations
WINDOW w AS (PARTITION BY ticker ORDER BY analysis_date);

CREATE TABLE job_run_shards (
    job               text COLLATE "C" NOT NULL,
    run_date          text COLLATE "C" NOT NULL,
    shard             integer NOT NULL,
    shards            integer NOT NULL,
    status            text NOT NULL,
    trigger           text NOT NULL,
    cutoff            timestamptz NOT NULL,
    tickers_processed integer NOT NULL,
    errors_count      integer NOT NULL,
    errors            jsonb NOT NULL,
    model_version     text NOT NULL,
    duration_ms       bigint,
    event_id          text NOT NULL,
    event_time        timestamptz NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, run_date, shard)
);

CREATE VIEW job_runs AS
SELECT job AS job_name, run_date, min(cutoff) AS start_time,
       CASE WHEN count(*) = max(shards) THEN max(ingested_at) END AS end_time,
       CASE WHEN count(*) < max(shards) THEN 'running'
            WHEN bool_or(status = 'FAILED') THEN 'failed' ELSE 'completed' END AS status,
       count(*) AS shards_reported, max(shards) AS shards,
       sum(tickers_processed)::integer AS tickers_processed, sum(errors_count)::integer AS errors_count,
       jsonb_agg(errors ORDER BY shard) FILTER (WHERE errors_count > 0) AS log_data,
       min(trigger) AS trigger, min(ingested_at) AS created_at
FROM job_run_shards
GROUP BY job, run_date;
