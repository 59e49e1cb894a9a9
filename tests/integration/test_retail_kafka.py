"""A generated retail day through the real broker: ``mercado worker --pipeline retail`` (three stages) and
``mercado sink`` against the replay driver.

The listings are produced to ``retail.listings.v1`` under a topic prefix of this test's own; the replay
driver runs the three stages in-process over that topic (the reference). Parity: the live worker's
opportunities equal the replay's key by key — same events, same order, same ids and payloads — and
the sink, running alongside the worker, writes each of them exactly once into ``retail_opportunities``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from infra.processes import stop_group
from streams.config import Settings
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import committed_reader_config
from streams.kafka.consumer import EventConsumer, default_serde, end_offsets
from streams.runtime.pipelines import build_stages
from tests.integration.test_marketdata_live import ENGINES
from tests.support.sink import (
    SinkProcess,
    create_database,
    drop_database,
    isolated,
    migrated,
    query,
    stored_offsets,
)
from tests.support.workers import start_worker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SEED = 11
# Two days ago: messages carry their event time as timestamp, and the broker deletes what is older than a
# topic's retention (30 days) — a fixed date would be gone from the topics once the calendar passes it.
# ~2,000 listings of five retailers, a morning crawl and afternoon re-observations.
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
LISTINGS = "retail.listings.v1"
OPPORTUNITIES = "retail.opportunities.v1"
SINK_TOPICS = ["retail.listings.normalized.v1", "retail.glitches.v1", "retail.matches.v1", OPPORTUNITIES]
Event = tuple[str, str, dict[str, Any]]  # key, record type, record (JSON-plain)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(record, default=str))


class _Collector:
    def __init__(self) -> None:
        self.events: dict[str, list[Event]] = defaultdict(list)

    def write(self, outputs: list) -> None:
        for o in outputs:
            self.events[o.topic].append((o.key, o.emit.schema, _plain(o.emit.record)))

    def close(self) -> dict[str, int]:
        return {t: len(v) for t, v in self.events.items()}


def _replay(settings: Settings, topics: list[str]) -> dict[str, list[Event]]:
    """The replay driver over the produced listings: every output of the three stages, per topic."""
    stages = build_stages("retail", settings)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(LISTINGS)], None, None, serde)
    sink = _Collector()
    run_replay(iter(reader), stages, serde, sink)
    reader.close()
    return {t: sink.events.get(t, []) for t in topics}


def _read_outputs(settings: Settings, topics: list[str]) -> tuple[dict[str, list[Event]], dict[tuple[str, int], int]]:
    """The committed events of ``topics`` (read_committed), and per partition the offset after the last one."""
    out: dict[str, list[Event]] = {t: [] for t in topics}
    after_last: dict[tuple[str, int], int] = {}
    physical = {settings.topic(t): t for t in topics}
    with EventConsumer(settings, list(physical)) as consumer:
        for ev in consumer.iterate(idle_timeout=10):
            out[physical[ev.topic]].append((ev.key or "", ev.schema.name, _plain(ev.record)))
            after_last[(ev.topic, ev.partition)] = ev.offset + 1
    return out, after_last


def _per_key(events: list[Event]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for key, schema, record in events:
        grouped[key].append((schema, record))
    return grouped


def _differences(topic: str, live: list[Event], replay: list[Event], written: int, show: int = 3) -> str:
    """How many keys differ between live and replay, and the first difference of a few of them."""
    got, want = _per_key(live), _per_key(replay)
    keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    lines = [f"{topic}: {len(live)} live (committed; {written} offsets written) / {len(replay)} replay events; "
             f"{len(keys)} of {len(set(got) | set(want))} keys differ"]  # fmt: skip
    for key in keys[:show]:
        a, b = got.get(key, []), want.get(key, [])
        i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        lines.append(f"  {key}: live has {len(a)}, replay {len(b)}; first difference at #{i}:")
        lines.append(f"    live   {a[i] if i < len(a) else None}")
        lines.append(f"    replay {b[i] if i < len(b) else None}")
    return "\n".join(lines)


def _committed(settings: Settings, group: str, topic_name: str) -> dict[int, int]:
    ends = end_offsets(settings, [settings.topic(topic_name)])
    consumer = Consumer(committed_reader_config(settings, group))
    try:
        parts = consumer.committed([TopicPartition(t, p) for (t, p) in ends], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in parts}


def _caught_up(settings: Settings, after_last: dict[tuple[str, int], int]) -> bool:
    """The worker committed every listing and every event of its repartition topics read so far."""
    group = f"{settings.kafka.topic_prefix}mercado-retail"
    listings_end = {p: n for (_t, p), n in end_offsets(settings, [settings.topic(LISTINGS)]).items()}
    if _committed(settings, group, LISTINGS) != listings_end:
        return False
    for name in ("retail.by-block.v1", "retail.matches.v1"):
        committed = _committed(settings, group, name)
        physical = settings.topic(name)
        if any(committed.get(p, -1) < n for (t, p), n in after_last.items() if t == physical):
            return False
    return True


def _wait_for_worker(
    settings: Settings,
    topics: list[str],
    worker: subprocess.Popen[bytes],
    worker_log: Path,
    sink: SinkProcess,
    timeout_s: float,
) -> tuple[dict[str, list[Event]], dict[tuple[str, int], int]]:
    """The worker's outputs once it has processed everything: every listing committed, and every event of
    its intermediate topics committed by the next stage, with nothing new appended since the last read."""
    deadline = time.monotonic() + timeout_s
    live, after_last = _read_outputs(settings, topics)
    while True:
        assert worker.poll() is None, f"the worker exited:\n{worker_log.read_text()[-4000:]}"
        assert sink.alive(), f"the sink exited:\n{sink.log()}"
        if _caught_up(settings, after_last):
            again, after_again = _read_outputs(settings, topics)
            if after_again == after_last:
                return again, after_again
            live, after_last = again, after_again
            continue
        counts = {t: len(v) for t, v in live.items()}
        assert time.monotonic() < deadline, f"the worker did not finish in time: {counts}"
        time.sleep(2)
        live, after_last = _read_outputs(settings, topics)


def _start_worker(settings: Settings, log: Path, engine: str) -> subprocess.Popen[bytes]:
    return start_worker(settings, "retail", engine, log=log)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_group(proc)


@pytest.fixture(scope="module")
def database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "retail_kafka")
    yield settings
    drop_database(settings)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_generated_day_through_the_worker_and_the_sink_equals_the_replay(
    database: Settings, tmp_path: Path, engine: str
) -> None:
    from streams.generator import generate_day

    settings = migrated(isolated(database))
    ensure_topics(settings)  # every catalog topic under this test's prefix, with the catalog's partitions
    generate_day(tmp_path, SEED, DAY, domains=("retail",))
    produced = FileProducer(settings, LISTINGS).produce_file(tmp_path / f"{LISTINGS}.jsonl")
    stages = build_stages("retail", settings)
    outputs = [t for spec in stages for t in spec.outputs]
    expected = _replay(settings, outputs)
    want_ids = {rec["event_id"] for _, schema, rec in expected[OPPORTUNITIES] if schema == "ArbitrageOpportunity"}
    assert len(want_ids) > 2000, produced

    worker_log, sink_log = tmp_path / "worker.log", tmp_path / "sink.log"
    worker = _start_worker(settings, worker_log, engine)
    sink = SinkProcess(settings, SINK_TOPICS, sink_log).start()
    try:
        live, after_last = _wait_for_worker(settings, outputs, worker, worker_log, sink, timeout_s=240)
        # The sink has written everything the worker committed (its offsets stop after the last event).
        written = {k: v for k, v in after_last.items() if k[0] in {settings.topic(t) for t in SINK_TOPICS}}
        sink_deadline = time.monotonic() + 60
        while not all(stored_offsets(settings).get(k, 0) >= v for k, v in written.items()):
            assert sink.alive(), f"the sink exited:\n{sink.log()}"
            assert time.monotonic() < sink_deadline, f"the sink did not catch up: {stored_offsets(settings)}"
            time.sleep(0.5)
    finally:
        _stop(worker)
        if sink.alive():
            assert sink.terminate() == 0, sink.log()

    # The sink wrote every opportunity the worker committed, once.
    live_ids = [rec["event_id"] for _, schema, rec in live[OPPORTUNITIES] if schema == "ArbitrageOpportunity"]
    assert len(live_ids) == len(set(live_ids))
    counts = query(settings, "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM retail_opportunities")[0]
    assert (counts["n"], counts["ids"]) == (len(live_ids), len(live_ids))
    assert {r[0] for r in query(settings, "SELECT event_id FROM retail_opportunities")} == set(live_ids)
    assert query(settings, "SELECT count(*) FROM mercado_dead_letters")[0][0] == 0

    # Parity: the live opportunities are the replay's, key by key.
    ends = end_offsets(settings, [settings.topic(t) for t in outputs])
    written = {t: sum(n for (name, _p), n in ends.items() if name == settings.topic(t)) for t in outputs}
    report = f"day {DAY}, seed {SEED}\n" + "\n".join(_differences(t, live[t], expected[t], written[t]) for t in outputs)
    assert _per_key(live[OPPORTUNITIES]) == _per_key(expected[OPPORTUNITIES]), report
    assert set(live_ids) == want_ids
