"""Producers' watermark markers on the real broker: with the merge strict (``MERCADO_WORKER__MERGE_IDLE_MS=-1``:
a caught-up writer is never passed on a timer), input arriving in parts at the live edge on several workers
is released by what the log says alone — the door ends each input with a watermark marker on every
partition — so the run finishes, and equals the replay (which merges the same markers)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from bench.risk import day_config
from streams.config import Settings
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import topic
from streams.kafka.clients import committed_reader_config, end_reader_config
from streams.kafka.consumer import EventConsumer, end_offsets, fetch_ready
from streams.kafka.headers import is_marker, read_watermark
from streams.runtime.pipelines import build_stages
from tests.integration.test_risk_kafka import INPUTS, assert_same_as_replay
from tests.integration.test_scale_out_kafka import (
    DAY,
    PARTITIONS,
    _assert_retail_same_as_replay,
    _finished,
    _first_hours,
    _replayed,
    _wait_until,
    _Workers,
)
from tests.support.files import split_lines
from tests.support.workers import start_worker

pytestmark = pytest.mark.kafka


class _StrictWorkers(_Workers):
    """Workers whose ordered merges never pass a caught-up writer on a timer."""

    def start(self, worker_id: str) -> None:
        self.procs[worker_id] = start_worker(
            self.settings, self.pipeline,
            extra_env={"MERCADO_WORKER__ID": worker_id, "MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05",
                       "MERCADO_WORKER__MERGE_IDLE_MS": "-1"},
            log=self.logs / f"worker-{worker_id}.log",
        )


def _markers(settings: Settings, name: str) -> list[tuple[int, int]]:
    """(partition, T) of every watermark marker on a topic, in log order per partition."""
    consumer = Consumer(end_reader_config(settings, f"mercado-markers-{time.time_ns()}"))
    ends = end_offsets(settings, [name])
    consumer.assign([TopicPartition(t, p, 0) for t, p in ends])
    left = {tp for tp, end in ends.items() if end > 0}
    found = []
    deadline = time.monotonic() + 30
    try:
        while left and time.monotonic() < deadline:
            for msg in fetch_ready(consumer, 1000, 1.0):
                if msg.error():
                    left.discard((msg.topic(), msg.partition()))
                    continue
                if is_marker(msg.value(), msg.headers()):
                    found.append((msg.partition(), read_watermark(msg.value(), msg.headers())))
    finally:
        consumer.close()
    return found


def test_retail_in_parts_on_two_strict_workers_finishes_on_the_doors_watermarks(
    services: Settings, tmp_path: Path
) -> None:
    """The retail day in four parts, each produced once the workers have committed some of the one before,
    on two workers that never pass a caught-up writer on a timer. Every part ends with the door's watermark
    marker on each listing partition; the last one releases the tail through both repartitions (without it,
    the records past some partition's last listing would wait for input that never comes)."""
    from streams.generator import generate_day
    from tests.integration.test_retail_kafka import DAY as RETAIL_DAY
    from tests.integration.test_retail_kafka import LISTINGS, SEED

    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.wm-retail."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (dataclasses.replace(topic(LISTINGS), partitions=PARTITIONS),))
    ensure_topics(settings)
    generate_day(tmp_path, SEED, RETAIL_DAY, domains=("retail",))
    parts = split_lines(tmp_path / f"{LISTINGS}.jsonl", tmp_path, 4)
    door = FileProducer(settings, LISTINGS)
    name = settings.topic(LISTINGS)
    group = Consumer(committed_reader_config(settings, f"{prefix}mercado-retail"))

    def committed() -> int:
        ends = end_offsets(settings, [name])
        return sum(max(tp.offset, 0) for tp in group.committed([TopicPartition(t, p) for t, p in ends], timeout=10))

    workers = _StrictWorkers(settings, tmp_path, "retail")
    produced = 0
    highs = []
    try:
        workers.start("a")
        workers.start("b")
        for part in parts:
            before = committed()
            produced += door.produce_file(part).produced
            highs.append(door.high_ms)
            _wait_until(workers, lambda before=before: committed() > before, "the workers committed some of it")
        outputs, expected = _replayed(settings, "retail")
        assert len(expected["retail.opportunities.v1"]) > 1000
        live = _finished(workers, settings, expected, timeout_s=120)
        # b can log its share while a, giving partitions up in the same rebalance, has not logged its new one
        # yet (the race of test_scale_out_kafka's _on_two_workers, seen in CI): wait until both logged a
        # share and the last shares are disjoint (150 s, then a failure naming it)
        last = workers.last_assignment
        _wait_until(workers, lambda: bool(last("a") and last("b") and not last("a") & last("b")),
                    "both assigned, disjoint")
        last_a, last_b = last("a"), last("b")
    finally:
        workers.close()
        group.close()
    assert last_a and last_b and not last_a & last_b, (last_a, last_b)
    _assert_retail_same_as_replay(live, expected, outputs)
    # the door's markers: after each part, one per partition at the highest event time written so far
    markers = _markers(settings, name)
    assert sorted(markers) == sorted((p, high) for high in highs for p in range(PARTITIONS))
    assert sum(end_offsets(settings, [name]).values()) == produced + len(parts) * PARTITIONS
    # what `mercado consume` reads of the topic: the events, no marker
    with EventConsumer(settings, [name], from_beginning=True) as consumer:
        assert sum(1 for _ in consumer.iterate(idle_timeout=10)) == produced


def _parts_by_event_time(day: Path, out: Path, n: int) -> tuple[dict[str, list[Path]], int, list[int]]:
    """Every input in ``n`` parts of one common event-time span each, the first event time (ms) and each
    part's end (ms, exclusive)."""
    lines = {name: (day / f"{name}.jsonl").read_bytes().splitlines(keepends=True) for name in INPUTS}
    times = {name: [int(dt.datetime.fromisoformat(orjson.loads(x)["event_time"]).timestamp() * 1000) for x in ls]
             for name, ls in lines.items()}
    start = min(min(ts) for ts in times.values())
    end = max(max(ts) for ts in times.values()) + 1
    bounds = [start + (end - start) * (i + 1) // n for i in range(n)]
    parts: dict[str, list[Path]] = {}
    for name in INPUTS:
        parts[name] = []
        for i in range(n):
            low = start if i == 0 else bounds[i - 1]
            part = out / f"{name}.part{i}.jsonl"
            part.write_bytes(b"".join(x for x, t in zip(lines[name], times[name], strict=True) if low <= t < bounds[i]))
            parts[name].append(part)
    return parts, start, bounds


def test_risk_sources_announced_strict_are_never_passed_on_the_timer_and_equal_the_replay(
    services: Settings, generated_days, tmp_path: Path
) -> None:
    """Risk's three inputs in three parts of one event-time span, on two workers with the default timer
    (500 ms). After each part its producers announce, strictly, that their input is complete through the
    part's end (``announce_watermark(end - 1, strict=True)``, as a live feed announces its clock): every
    source is then strict, so the risk stage never passes a caught-up writer on the timer, and what it
    releases is decided by the watermarks in the log alone. The run finishes (the last announcement is past
    every event) and equals the replay."""
    day = tmp_path / "day"
    day.mkdir()
    full = generated_days(42, DAY, ("crypto", "orders"))[0]  # tests/conftest.py: made once per session, shared
    _first_hours(full, day, 3)
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.wm-risk."
    settings = services.with_({"kafka__topic_prefix": prefix, "risk": day_config()})
    ensure_topics(settings, tuple(dataclasses.replace(topic(t), partitions=PARTITIONS) for t in INPUTS))
    ensure_topics(settings)
    parts, start, ends = _parts_by_event_time(day, tmp_path, 3)
    sources = build_stages("risk", settings)[0].inputs  # INPUTS and the commands topic (empty here)
    assert set(INPUTS) < set(sources)
    producers = {name: FileProducer(settings, name) for name in sources}
    workers = _Workers(settings, tmp_path, "risk")  # the default timer fallback: merge_idle_ms 500
    group = Consumer(committed_reader_config(settings, f"{prefix}mercado-risk"))

    def committed() -> int:
        ends_now = end_offsets(settings, [settings.topic(t) for t in sources])
        return sum(max(tp.offset, 0) for tp in group.committed([TopicPartition(t, p) for t, p in ends_now],
                                                                timeout=10))

    for name in sources:  # from the first offset on: no source of this run is ever caught up without it
        producers[name].announce_watermark(start - 1, strict=True)
        producers[name].flush()
    try:
        workers.start("a")
        workers.start("b")
        for i, end in enumerate(ends):
            before = committed()
            for name in INPUTS:
                producers[name].produce_file(parts[name][i])
            for name in sources:
                producers[name].announce_watermark(end - 1, strict=True)
                producers[name].flush()
            _wait_until(workers, lambda before=before: committed() > before, "the workers committed some of it")
        outputs, expected = _replayed(settings, "risk")
        assert len(expected["risk.order-decisions.v1"]) > 200
        live = _finished(workers, settings, expected, timeout_s=120)
    finally:
        workers.close()
        group.close()
    logs = {w: workers.log(w, tail=200_000) for w in "ab"}
    assert_same_as_replay(live, expected, outputs, f"logs {tmp_path}\n")
    # every source strict: neither worker's merge ever passed a caught-up writer on its timer (logged on close)
    passed = {w: [int(n) for n in re.findall(r"passed_caught_up\W+(\d+)", text)] for w, text in logs.items()}
    assert all(found and not any(found) for found in passed.values()), passed
