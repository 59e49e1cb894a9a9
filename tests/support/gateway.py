"""A generated day, cut to a short window, through the real pipelines (in process) and the real sink into
a private schema: what the gateway's integration tests and benchmark read (this module holds no tests).

The generator's day (seed 42, 2026-11-20) is cut to [16:00, 17:15) UTC — the crypto crash (drawdown
breakers), the USD/COP feed gap, the market maker's orders and probes, every retail listing, the stock
scanner's 10-second snapshots (11:00-12:15 New York, regular session: the 12:00 persisted board) — and
each pipeline runs over it in process (``InProcessPipeline``, the replay's routing); the derived events,
and the order events the sink keeps, are produced to the catalog topics under the test's prefix and
``mercado sink``'s runner writes them to PostgreSQL. The scanner's board (``scanner.results.v1``,
tombstones included) is produced too, for the gateway's board to read.

The recommendations job runs over a generated daily history of its own (``RECO_HISTORY``: eight BYMA
tickers and CEDEARs) for the trading days of ``RECO_FIRST``..``DAY``, three shards; the JobRuns of the last
date carry a processing-time header (``RECO_PROCESSING_US``: as a live worker stamps them; the replay's
carry none), which the sink turns into ``job_run_shards.duration_ms``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from processors import topics
from processors.core import TOMBSTONE
from processors.recommendations import RecommendationsConfig
from processors.recommendations.calendar import TradingCalendar
from processors.stages import InProcessPipeline
from schemas.loader import load_schemas
from sinks.runner import default_topics
from sinks.tables import load_mappings
from streams.codec.coerce import record_coercer, timestamp_micros
from streams.config import Settings
from streams.generator import generate_day
from streams.generator.recommendations import HistoryConfig, generate_history
from streams.kafka.headers import PROCESSING_HEADER
from streams.runtime.pipelines import build_stages
from tests.support.recommendations import events_of
from tests.support.recommendations import run as run_recommendations
from tests.support.sink import EventProducer, create_topics, drain

SEED = 42
DAY = dt.date(2026, 11, 20)
WINDOW_START = dt.datetime(2026, 11, 20, 16, 0, tzinfo=dt.UTC)
WINDOW_END = dt.datetime(2026, 11, 20, 17, 15, tzinfo=dt.UTC)
RECO_CONFIG = RecommendationsConfig(shards=3)
RECO_HISTORY = HistoryConfig(seed=SEED, start=dt.date(2026, 6, 1), end=DAY, tickers=8)
RECO_FIRST = dt.date(2026, 10, 1)
RECO_PROCESSING_US = (1_234_567, 2_500_400, 987)  # per shard of the last date: 1235, 2500 and 1 ms
FILES = (  # topic, record type of rows without "type"
    (topics.TICKS, "PriceTick"),
    (topics.ORDERS, None),
    (topics.VENUE_HEALTH, "VenueHealth"),
    (topics.LISTINGS, "RetailListing"),
    (topics.SCAN_SNAPSHOTS, "ScanSnapshot"),
)


def _us(t: dt.datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def generate(out_dir: Path) -> Path:
    """The day the gateway tests serve (every domain) in ``out_dir``: tests take tests/conftest.py's
    ``generated_days(SEED, DAY)``, made once per session."""
    generate_day(out_dir, SEED, DAY)
    return out_dir


def day_events(out_dir: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(topic, record type, wire record) of the window of the day generated in ``out_dir`` (:func:`generate`),
    in event-time order (retail: the whole day)."""
    schemas = {s.name: s for s in load_schemas()}
    coercers: dict[str, Any] = {}
    start, end = _us(WINDOW_START), _us(WINDOW_END)
    events = []
    for topic, default in FILES:
        for line in (out_dir / f"{topic}.jsonl").read_bytes().splitlines():
            row = orjson.loads(line)
            name = row.pop("type", None) or default
            t = timestamp_micros(row["event_time"])
            if topic != topics.LISTINGS and not start <= t < end:
                continue
            coerce = coercers.get(name) or coercers.setdefault(name, record_coercer(schemas[name]))
            events.append((t, topic, name, coerce(row)))
    events.sort(key=lambda e: e[0])
    return [(topic, name, record) for _t, topic, name, record in events]


def fill(settings: Settings, out_dir: Path) -> dict[str, int]:
    """Runs the window of the day generated in ``out_dir`` through every pipeline and the sink; returns rows
    produced per topic."""
    from streams.generator.trading.risk_setup import day_config

    events = day_events(out_dir)
    sink_topics = set(default_topics(load_mappings()))
    settings_risk = settings.with_(risk=day_config())
    produced: Counter[str] = Counter()
    producer = EventProducer(settings)
    create_topics(settings, *sorted(sink_topics), topics.SCAN_RESULTS)
    pipelines = (("marketdata", settings), ("retail", settings), ("risk", settings_risk), ("scanner", settings))
    for name, run_settings in pipelines:
        stages = build_stages(name, run_settings)
        inputs = set(stages[0].inputs)
        pipeline = InProcessPipeline(stages)
        mine = [(topic, schema, record) for topic, schema, record in events if topic in inputs]
        emits = pipeline.run_events(mine, until_us=_us(WINDOW_END) + 3_600_000_000)
        for e in emits:
            if e.topic in sink_topics:
                producer.send(e.topic, e.schema, e.record, key=e.key)
                produced[e.topic] += 1
            elif e.topic == topics.SCAN_RESULTS:
                if e.schema == TOMBSTONE:
                    producer.send_raw(e.topic, None, e.key.encode())
                else:
                    producer.send(e.topic, e.schema, e.record, key=e.key)
                produced[e.topic] += 1
    days = TradingCalendar(RECO_CONFIG).trading_days(RECO_FIRST, DAY)
    last = days[-1].isoformat()
    for e in run_recommendations(events_of(generate_history(RECO_HISTORY), days, RECO_CONFIG), RECO_CONFIG):
        headers = None
        if e.schema == "JobRun" and e.record["run_date"] == last:
            headers = [(PROCESSING_HEADER, str(RECO_PROCESSING_US[e.record["shard"]]).encode())]
        producer.send(e.topic, e.schema, e.record, key=e.key, headers=headers)
        produced[e.topic] += 1
    for topic, schema, record in events:  # the order events the sink keeps (fills, venue rejections)
        if topic == topics.ORDERS:
            producer.send(topic, schema, record, key=f"{record['venue']}:{record['symbol']}")
            produced[topic] += 1
    producer.flush()
    runner = drain(settings, sorted(sink_topics), timeout_s=120)
    assert runner.stats.dead_letters == 0, f"the sink dead-lettered {runner.stats.dead_letters} events"
    return dict(produced)


if __name__ == "__main__":  # timing of the fill, by hand
    import tempfile

    from tests.support.sink import create_database, drop_database, isolated, migrated

    base = create_database(Settings(), "gateway_fill")
    try:
        s = migrated(isolated(base))
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            print(fill(s, generate(Path(tmp))), f"{time.perf_counter() - t0:.1f} s")
        from bench.common import delete_run_topics

        delete_run_topics(s, [s.kafka.topic_prefix], [])
    finally:
        drop_database(base)
