"""Fault tests of ``mercado sink`` as a real subprocess: SIGKILL at random points, and a database restart,
while rows stream in. The tables must end with exactly the expected rows (count, content, checksum)."""

from __future__ import annotations

import random
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.postgres_local import LocalPostgres
from streams.config import Settings
from tests.support.sink import (
    EventProducer,
    SinkProcess,
    bar,
    compare_bars,
    create_database,
    create_topics,
    drop_database,
    free_port,
    isolated,
    load_expected_bars,
    migrated,
    query,
    stored_offsets,
    wait_until,
    written_end_offsets,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SEED = 20261122
STREAMED_MESSAGES = 200_000
REVISED_EVERY = 50  # every 50th bar is re-emitted later with revision 1 (a backfill)


@pytest.fixture(scope="module")
def sink_database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "sink_faults")
    yield settings
    drop_database(settings)


def stream(total: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``total`` messages of 40 instruments: bars, plus a revision-1 re-emission of every 50th bar sent
    400 messages after it. Returns (what is sent, in order; what md_bars must hold at the end)."""
    sent: list[dict[str, Any]] = []
    final: list[dict[str, Any]] = []
    i = 0
    while len(sent) < total:
        record = bar(i // 40, symbol=f"S{i % 40:02d}")
        sent.append(record)
        final.append(record)
        j = i - 400
        if j >= 0 and j % REVISED_EVERY == 0 and len(sent) < total:
            revised = bar(j // 40, symbol=f"S{j % 40:02d}", revision=1)
            sent.append(revised)
            final[j] = revised
        i += 1
    return sent, final


class StreamingProducer(threading.Thread):
    """Produces the stream in chunks of 10,000 while the sink runs, pausing between chunks so that the
    stream lasts longer than the sink needs to keep up with it (the kills land mid-stream)."""

    def __init__(self, settings: Settings, topic_name: str, records: list[dict[str, Any]], pause_s: float = 0.25):
        super().__init__(daemon=True)
        self.producer = EventProducer(settings)
        self.topic_name = topic_name
        self.records = records
        self.pause_s = pause_s
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, len(self.records), 10_000):
                for record in self.records[start : start + 10_000]:
                    self.producer.send(self.topic_name, "Bar", record)
                self.producer.flush()
                threading.Event().wait(self.pause_s)
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.join(180)
        assert not self.is_alive(), "producer did not finish"
        assert self.error is None, self.error


def progress(settings: Settings) -> int:
    """Messages the sink has committed (the sum of its stored next offsets)."""
    return sum(stored_offsets(settings).values())


def test_sigkill_at_random_points_leaves_every_row_written_exactly_once(
    sink_database: Settings, tmp_path: Path
) -> None:
    settings = migrated(isolated(sink_database))
    create_topics(settings, "bars")
    sent, final = stream(STREAMED_MESSAGES)
    expected = load_expected_bars(settings, final)
    rng = random.Random(SEED)
    kill_points = sorted(rng.sample(range(10_000, STREAMED_MESSAGES - 10_000), 4))

    producer = StreamingProducer(settings, "bars", sent)
    producer.start()
    sink = SinkProcess(settings, ["bars"], tmp_path / "sink.log").start()
    kills = []
    try:
        for point in kill_points:
            wait_until(lambda p=point: progress(settings) >= p, 120, f"{point} committed messages")
            threading.Event().wait(rng.uniform(0.0, 0.4))  # somewhere inside the next batch
            sink.kill()
            kills.append(progress(settings))
            sink.start()
        producer.finish()
        ends = written_end_offsets(settings, "bars")
        assert sum(ends.values()) == STREAMED_MESSAGES
        wait_until(lambda: stored_offsets(settings) == ends, 120, "the sink to catch up")
        assert sink.terminate() == 0, sink.log()
    finally:
        if sink.alive():
            sink.kill()

    assert len(kills) == 4
    comparison = compare_bars(settings, expected)
    assert comparison["rows"] == comparison["expected_rows"] == len(final)
    assert (comparison["missing"], comparison["unexpected"]) == (0, 0)
    assert comparison["md5"] == comparison["expected_md5"]
    assert query(settings, "SELECT count(*) FROM mercado_dead_letters")[0][0] == 0


@pytest.fixture
def private_postgres(services: Settings) -> Iterator[Settings]:
    """A PostgreSQL cluster of this test's own (stopping the shared one would disturb other tests)."""
    tag = uuid.uuid4().hex[:8]
    cluster_settings = services.with_(
        local__state_dir=services.local.state_dir / f"sinktest-pg-{tag}", local__pg_port=free_port(), database_url=None
    )
    cluster = LocalPostgres(cluster_settings)
    cluster.ensure_started()
    try:
        yield cluster_settings.with_({"database_url": cluster_settings.local.database_url})
    finally:
        cluster.stop()
        shutil.rmtree(cluster_settings.local.state_dir, ignore_errors=True)


def test_database_restart_mid_stream_loses_nothing_and_counts_retries(
    private_postgres: Settings, tmp_path: Path
) -> None:
    settings = migrated(isolated(private_postgres))
    cluster = LocalPostgres(private_postgres.with_({"database_url": None}))
    create_topics(settings, "bars")
    sent, final = stream(60_000)
    expected = load_expected_bars(settings, final)

    sink = SinkProcess(settings, ["bars"], tmp_path / "sink.log").start()
    try:
        sink.wait_for_metrics()
        first_half = StreamingProducer(settings, "bars", sent[:30_000], pause_s=0)
        first_half.start()
        first_half.finish()
        ends = written_end_offsets(settings, "bars")
        wait_until(lambda: stored_offsets(settings) == ends, 120, "the first 30000 messages to be written")

        cluster.stop()
        second_half = StreamingProducer(settings, "bars", sent[30_000:])
        second_half.start()  # streams while the database is down

        def retries() -> float:
            return sum(v for k, v in sink.metrics().items() if k.startswith("mercado_sink_retries_total"))

        wait_until(lambda: retries() > 0, 60, "the sink to retry")
        wait_until(lambda: sink.metrics()["mercado_sink_paused"] == 1.0, 60, "the sink to pause its partitions")
        cluster.ensure_started()
        second_half.finish()
        ends = written_end_offsets(settings, "bars")
        wait_until(lambda: stored_offsets(settings) == ends, 120, "the sink to catch up")
        # the gauges move after the last batch's transaction (the offsets above) commits, and the
        # partitions resume once the sink saw the write through: wait for them, then read them together
        wait_until(lambda: (m := sink.metrics())["mercado_sink_paused"] == 0.0
                   and m["mercado_sink_unwritten_messages"] == 0.0, 30, "the sink to resume, nothing unwritten")
        samples = sink.metrics()
        assert sink.terminate() == 0, sink.log()
    finally:
        if sink.alive():
            sink.kill()

    assert sum(v for k, v in samples.items() if k.startswith("mercado_sink_retries_total")) >= 1
    assert samples["mercado_sink_paused"] == 0.0
    assert samples["mercado_sink_unwritten_messages"] == 0.0
    assert "database operation failed; retrying" in sink.log()
    comparison = compare_bars(settings, expected)
    assert comparison["rows"] == comparison["expected_rows"] == len(final)
    assert (comparison["missing"], comparison["unexpected"]) == (0, 0)
    assert comparison["md5"] == comparison["expected_md5"]


def test_rebalances_between_two_sinks_keep_every_row_exactly_once(sink_database: Settings, tmp_path: Path) -> None:
    """A second sink joins, then the first leaves: each rebalance writes what was consumed (on_revoke)
    and the new owners read from the offsets stored in the database (on_assign)."""
    settings = migrated(isolated(sink_database))
    create_topics(settings, "bars", partitions=6)
    sent, final = stream(100_000)
    expected = load_expected_bars(settings, final)
    producer = EventProducer(settings)

    def produce(records: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
        for record in records:
            producer.send("bars", "Bar", record)
        producer.flush()
        return written_end_offsets(settings, "bars")

    def assigned(sink: SinkProcess) -> float:
        return sink.metrics().get("mercado_sink_assigned_partitions", 0.0)

    first = SinkProcess(settings, ["bars"], tmp_path / "first.log", instance_id=None).start()
    second = SinkProcess(settings, ["bars"], tmp_path / "second.log", instance_id=None)
    try:
        first.wait_for_metrics()
        ends = produce(sent[:40_000])
        wait_until(lambda: stored_offsets(settings) == ends, 120, "the first sink to write the first 40000")

        second.start()
        second.wait_for_metrics()
        wait_until(lambda: assigned(first) == assigned(second) == 3, 120, "the partitions to be shared")
        ends = produce(sent[40_000:80_000])
        wait_until(lambda: stored_offsets(settings) == ends, 120, "both sinks to write the next 40000")
        # each sink counts its rows after its batch's transaction commits (the offsets above): both wrote some
        rows = 'mercado_sink_rows_total{table="md_bars"}'
        wait_until(lambda: first.metrics().get(rows, 0.0) > 0 and second.metrics().get(rows, 0.0) > 0, 30,
                   "both sinks to count rows written")

        assert first.terminate() == 0, first.log()  # leaves the group: the second sink takes every partition
        wait_until(lambda: assigned(second) == 6, 120, "the second sink to own every partition")
        ends = produce(sent[80_000:])
        wait_until(lambda: stored_offsets(settings) == ends, 120, "the second sink to write the rest")
        assert second.terminate() == 0, second.log()
    finally:
        for sink in (first, second):
            if sink.alive():
                sink.kill()

    comparison = compare_bars(settings, expected)
    assert comparison["rows"] == comparison["expected_rows"] == len(final)
    assert (comparison["missing"], comparison["unexpected"]) == (0, 0)
    assert comparison["md5"] == comparison["expected_md5"]
