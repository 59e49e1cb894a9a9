"""Producers' watermark markers on the real broker: with the merge strict (``MERCADO_WORKER__MERGE_IDLE_MS=-1``:
a caught-up writer is never passed on a timer), input arriving in parts at the live edge on several workers
is released by what the log says alone — the door ends each input with a watermark marker on every
partition — so the run finishes, and equals the replay (which merges the same markers)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.config import Settings
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import topic
from streams.kafka.clients import committed_reader_config, consumer_config
from streams.kafka.consumer import end_offsets
from streams.kafka.headers import is_marker, read_watermark
from tests.integration.test_scale_out_kafka import (
    PARTITIONS,
    _assert_retail_same_as_replay,
    _finished,
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
    consumer = Consumer(consumer_config(settings, f"mercado-markers-{time.time_ns()}",
                                        **{"enable.partition.eof": True, "auto.offset.reset": "earliest"}))
    ends = end_offsets(settings, [name])
    consumer.assign([TopicPartition(t, p, 0) for t, p in ends])
    left = {tp for tp, end in ends.items() if end > 0}
    found = []
    deadline = time.monotonic() + 30
    try:
        while left and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
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
            produced += door.produce_file(part).produced
            highs.append(door.high_ms)
            before = committed()
            _wait_until(workers, lambda before=before: committed() > before, "the workers committed some of it")
        outputs, expected = _replayed(settings, "retail")
        assert len(expected["retail.opportunities.v1"]) > 1000
        live = _finished(workers, settings, expected, timeout_s=120)
        _wait_until(workers, lambda: bool(workers.assignments("a") and workers.assignments("b")), "both assigned")
        last_a, last_b = workers.assignments("a")[-1], workers.assignments("b")[-1]
    finally:
        workers.close()
        group.close()
    assert last_a and last_b and not last_a & last_b, (last_a, last_b)
    _assert_retail_same_as_replay(live, expected, outputs)
    # the door's markers: after each part, one per partition at the highest event time written so far
    markers = _markers(settings, name)
    assert sorted(markers) == sorted((p, high) for high in highs for p in range(PARTITIONS))
    assert sum(end_offsets(settings, [name]).values()) == produced + len(parts) * PARTITIONS
