"""The recommendations job's persistence: migration 0008, sinks/tables.recommendations.toml and the views,
on the real broker and database. A generated quarter runs through the job in process; every output is
produced twice (a re-run of the job) and the sink writes one row per date and ticker, per run and shard."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from processors import topics
from processors.recommendations import RecommendationsConfig
from processors.recommendations.calendar import TradingCalendar
from sinks.runner import default_topics
from sinks.tables import load_mappings
from streams.config import Settings
from streams.generator.recommendations import HistoryConfig, generate_history
from tests.support.recommendations import events_of, run
from tests.support.sink import EventProducer, create_database, create_topics, drain, drop_database, isolated, migrated
from tests.support.sink import query as sql

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

OUTPUTS = [topics.RECOMMENDATIONS, topics.JOB_RUNS]


def test_recommendations_and_job_runs_land_once_with_their_views(services: Settings) -> None:
    assert set(OUTPUTS) <= set(default_topics(load_mappings()))
    assert topics.RECO_INPUTS not in default_topics(load_mappings())
    cfg = RecommendationsConfig(shards=3)
    history = generate_history(HistoryConfig(seed=3, start=dt.date(2023, 1, 2), end=dt.date(2023, 6, 30),
                                             tickers=8))
    days = TradingCalendar(cfg).trading_days(dt.date(2023, 4, 3), dt.date(2023, 6, 30))
    out = run(events_of(history, days, cfg), cfg)
    recos = [e.record for e in out if e.schema == "Recommendation"]
    runs = [e.record for e in out if e.schema == "JobRun"]
    assert len(runs) == 3 * len(days) and recos

    database = create_database(services, "reco_sink")
    try:
        db = migrated(isolated(database, db__timescaledb="off"))
        create_topics(db, *OUTPUTS)
        producer = EventProducer(db)
        for _ in range(2):  # the job run twice: the same events again
            for e in out:
                producer.send(e.topic, e.schema, e.record, e.key)
        producer.flush()
        drain(db, OUTPUTS)

        rows = sql(db, "SELECT analysis_date, ticker, recommendation, total_score, inputs_hash FROM "
                       "daily_recommendations ORDER BY analysis_date, ticker")
        want = sorted((r["analysis_date"], r["ticker"], r["recommendation"], r["total_score"], r["inputs_hash"])
                      for r in recos)
        assert [tuple(r) for r in rows] == want

        details = sql(db, "SELECT analysis_type, count(*) AS n FROM analysis_details GROUP BY 1 ORDER BY 1")
        assert {r["analysis_type"]: r["n"] for r in details} == dict.fromkeys(
            ["fundamental", "macro", "sentiment", "technical"], len(recos))
        tech = sql(db, "SELECT indicators, score FROM analysis_details WHERE analysis_type = 'technical' "
                       "AND ticker = $1 AND analysis_date = $2", recos[-1]["ticker"], recos[-1]["analysis_date"])
        assert tech[0]["score"] == recos[-1]["technical_score"]
        assert json.loads(tech[0]["indicators"])["rsi"] == json.loads(
            recos[-1]["analysis_details"][0]["indicators"])["rsi"]

        latest = sql(db, "SELECT ticker, analysis_date FROM latest_recommendations ORDER BY ticker")
        last_of = {}
        for r in recos:
            last_of[r["ticker"]] = max(last_of.get(r["ticker"], ""), r["analysis_date"])
        assert {r["ticker"]: r["analysis_date"] for r in latest} == last_of

        ticker = recos[0]["ticker"]
        hist = sql(db, "SELECT recommendation, previous_recommendation FROM recommendation_history "
                       "WHERE ticker = $1 ORDER BY analysis_date", ticker)
        labels = [r["recommendation"] for r in sorted(recos, key=lambda r: r["analysis_date"]) if r["ticker"] == ticker]
        assert [r["recommendation"] for r in hist] == labels
        assert [r["previous_recommendation"] for r in hist] == [None, *labels[:-1]]

        jobs = sql(db, "SELECT run_date, status, shards_reported, shards, tickers_processed, errors_count "
                       "FROM job_runs ORDER BY run_date")
        assert len(jobs) == len(days)
        per_day = {}
        for r in recos:
            per_day[r["analysis_date"]] = per_day.get(r["analysis_date"], 0) + 1
        for j in jobs:
            assert (j["status"], j["shards_reported"], j["shards"]) == ("completed", 3, 3)
            assert j["tickers_processed"] == per_day.get(j["run_date"], 0)
        assert sum(j["errors_count"] for j in jobs) == sum(r["errors_count"] for r in runs)
    finally:
        drop_database(database)
