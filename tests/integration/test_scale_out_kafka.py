"""Several native workers in one group, on inputs of six partitions: every run equals the replay.

The risk pipeline's first stage reads three topics whose related keys sit on different partitions
(binance's health probes are keyed ``binance``, its ticks and orders ``binance:<symbol>``), so with
several workers one worker forwards a venue's health probes while another forwards its ticks. The risk
stage must still see each venue's events in the replay's order (docs/architecture.md, "Scale-out"):
the repartition records carry their position, progress markers are in the log, and the risk stage
releases in position order. Each test runs a generated day (six or twelve hours of it, already in the log) with
another story — two workers apart, three with a ``kill -9`` and a restart, one joined by a second that
then stops cleanly — and compares every derived topic with the replay: the same events, the same order
per key, no event id twice. Retail (two repartitions) and market data (none) run on two workers too.
The scanner (keyed by scanner) and the paper venue (rekey of the risk gate's decisions and the ticks, then
the venue) go through the same scaling and ``kill -9`` at the live edge.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from bench.risk import day_config
from infra.processes import stop_group
from processors.partitioning import partition_of
from streams.config import Settings
from streams.engines.live import changelog_topic
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import topic
from streams.kafka.clients import admin_config, committed_reader_config
from streams.kafka.consumer import default_serde, end_offsets
from streams.runtime.pipelines import build_stages
from tests.integration.test_marketdata_live import _assert_same_as_replay, _Collector, _read_outputs
from tests.integration.test_risk_kafka import (
    INPUTS,
    _committed_fraction,
    assert_same_as_replay,
    produce_day,
    replay_day,
)
from tests.support.files import split_lines
from tests.support.workers import CommittedCounter, start_worker

pytestmark = pytest.mark.kafka

DAY = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6


@pytest.fixture(scope="module")
def full_day_dir(generated_days) -> Path:
    """The generated risk day (seed 42): ~277,000 input events, a run that lasts through joins and a leave
    (cut below for the other tests). tests/conftest.py: made once per session (test_risk_kafka reads it too)."""
    return generated_days(42, DAY, ("crypto", "orders"))[0]


@pytest.fixture(scope="module")
def ticks_day_dir(generated_days) -> Path:
    """The generated day of every domain (seed 42), made once per session (test_marketdata_live reads it too):
    its md.ticks.v1 holds the fx and crypto feeds, which no other domain changes."""
    return generated_days(42, DAY)[0]


def _first_hours(full: Path, out: Path, hours: int) -> Path:
    cutoff = f"{DAY.isoformat()}T{hours:02d}:00:00"
    for name in INPUTS:
        lines = (full / f"{name}.jsonl").read_bytes().splitlines(keepends=True)
        (out / f"{name}.jsonl").write_bytes(b"".join(x for x in lines if orjson.loads(x)["event_time"] < cutoff))
    return out


@pytest.fixture(scope="module")
def day_dir(full_day_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Its first six hours (~70,000 events)."""
    return _first_hours(full_day_dir, tmp_path_factory.mktemp("scale-out-day"), 6)


def _six_partitions(services: Settings, name: str) -> Settings:
    """Settings under a prefix of their own whose risk input topics have six partitions (created)."""
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.{name}."
    settings = services.with_({"kafka__topic_prefix": prefix, "risk": day_config()})
    ensure_topics(settings, tuple(dataclasses.replace(topic(t), partitions=PARTITIONS) for t in INPUTS))
    ensure_topics(settings)
    return settings


_REPLAYED: dict[Path, tuple[tuple[str, ...], dict]] = {}  # day folder -> the replay of its inputs on six partitions


def _day_on_six_partitions(services: Settings, day_dir: Path, name: str) -> tuple[Settings, tuple[str, ...], dict]:
    """The day produced to input topics of six partitions under a prefix of its own, and the replay's outputs.

    The replay of a day is computed once per module: the same files on the same six partitions are the same
    log (keys decide the partition, the producer keeps the file's order), and the replay of a log is
    deterministic; a test whose log differed would fail its comparison, never pass it wrongly. (A full day's
    replay took ~60 s of the module under load.)"""
    settings = _six_partitions(services, name)
    produce_day(settings, day_dir)
    if day_dir not in _REPLAYED:
        _REPLAYED[day_dir] = replay_day(settings)
    outputs, expected = _REPLAYED[day_dir]
    assert len(expected["risk.order-decisions.v1"]) > 500
    return settings, outputs, expected


class _Workers:
    """Workers of one pipeline's group, each with its MERCADO_WORKER__ID and its own log."""

    def __init__(self, settings: Settings, logs: Path, pipeline: str = "risk") -> None:
        self.settings, self.logs, self.pipeline = settings, logs, pipeline
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, worker_id: str) -> None:
        self.procs[worker_id] = start_worker(
            self.settings, self.pipeline,
            extra_env={"MERCADO_WORKER__ID": worker_id, "MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"},
            log=self.logs / f"worker-{worker_id}.log",
        )

    def kill_9(self, worker_id: str) -> None:
        proc = self.procs.pop(worker_id)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, worker_id: str) -> None:
        """SIGTERM: the worker commits what it processed and leaves."""
        proc = self.procs.pop(worker_id)
        stop_group(proc)
        assert proc.returncode == 0, f"worker {worker_id} exited with {proc.returncode}: {self.log(worker_id)}"

    def check(self) -> None:
        for worker_id, proc in self.procs.items():
            assert proc.poll() is None, f"worker {worker_id} exited with {proc.returncode}: {self.log(worker_id)}"

    def log(self, worker_id: str, tail: int = 3000) -> str:
        return (self.logs / f"worker-{worker_id}.log").read_text(errors="replace")[-tail:]

    def assignments(self, worker_id: str) -> list[set[tuple[str, int]]]:
        """Every assignment the worker logged: its input partitions (logical topic, partition)."""
        prefix = self.settings.kafka.topic_prefix
        found = []
        for match in re.finditer(r"partitions assigned\s.*?assigned=(\[[^\]]*\])",
                                 (self.logs / f"worker-{worker_id}.log").read_text(errors="replace")):
            found.append({(tp.rpartition(":")[0].removeprefix(prefix), int(tp.rpartition(":")[2]))
                          for tp in ast.literal_eval(match.group(1))})
        return found

    def last_assignment(self, worker_id: str) -> set[tuple[str, int]]:
        """The worker's latest logged assignment (empty before its first)."""
        found = self.assignments(worker_id)
        return found[-1] if found else set()

    def close(self) -> None:
        for proc in self.procs.values():
            stop_group(proc)
        self.procs.clear()


def _progress(settings: Settings) -> Callable[[], float]:
    """How much of the inputs the group has committed (0..1)."""
    ends = end_offsets(settings, [settings.topic(t) for t in INPUTS])
    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-risk"))
    return lambda: _committed_fraction(settings, group, ends)


def _wait_until(workers: _Workers, done: Callable[[], bool], what: str, timeout_s: float = 150) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        workers.check()
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _finished(workers: _Workers, settings: Settings, expected: dict, timeout_s: float = 240,
              compacted: tuple[str, ...] = ()) -> dict[str, list]:
    """The committed outputs once their counts reach the replay's (``compacted``: topics the broker compacts,
    fewer records live than in the replay; neither waited for nor read)."""
    expected = {t: v for t, v in expected.items() if t not in compacted}
    deadline = time.monotonic() + timeout_s
    counter = CommittedCounter(settings, list(expected))  # counted while they run, read and decoded once
    try:
        while True:
            workers.check()
            counts = counter.read()
            if all(counts[t] >= len(expected[t]) for t in expected) or time.monotonic() > deadline:
                live = _read_outputs(settings, tuple(expected))
                if all(len(live[t]) >= len(expected[t]) for t in expected) or time.monotonic() > deadline:
                    return live
            time.sleep(0.5)
    finally:
        counter.close()


def _venue_apart(settings: Settings, expected: dict, mine: set[tuple[str, int]],
                 theirs: set[tuple[str, int]]) -> list[str]:
    """Venues whose health probes one worker forwards while another forwards some of their ticks."""
    venues = {r["venue"] for _, schema, r in expected["risk.inputs.v1"] if schema == "VenueHealth"}
    feeds = {f"{r['venue']}:{r['symbol']}" for _, schema, r in expected["risk.inputs.v1"] if schema == "PriceTick"}
    apart = []
    for venue in sorted(venues):
        health = ("trading.venue-health.v1", partition_of(venue, PARTITIONS))
        ticks = {("md.ticks.v1", partition_of(f, PARTITIONS)) for f in feeds if f.startswith(f"{venue}:")}
        if (health in mine and ticks & theirs) or (health in theirs and ticks & mine):
            apart.append(venue)
    return apart


def _replayed(settings: Settings, pipeline: str) -> tuple[tuple[str, ...], dict[str, list]]:
    """Every output topic of the pipeline and what the replay of its inputs gives on each."""
    stages = build_stages(pipeline, settings)
    outputs = tuple(t for spec in stages for t in spec.outputs)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(t) for t in stages[0].inputs], None, None, serde)
    sink = _Collector()
    run_replay(iter(reader), stages, serde, sink)
    reader.close()
    return outputs, {t: sink.events.get(t, []) for t in outputs}


def _on_two_workers(settings: Settings, tmp_path: Path, expected: dict,
                    pipeline: str) -> tuple[dict[str, list], set, set]:
    """Workers a and b from the start until the outputs are complete; their outputs and last assignments
    (checked disjoint and not empty: each worker had partitions of its own)."""
    workers = _Workers(settings, tmp_path, pipeline)
    try:
        workers.start("a")
        workers.start("b")
        live = _finished(workers, settings, expected)
        last = workers.last_assignment
        # A small input can be done before b's first assignment is logged, and b can log its share while a,
        # which gives partitions up in the same rebalance, is still fencing and restoring before it logs its
        # own (both seen in CI): wait until both logged a share and the shares are disjoint.
        _wait_until(workers, lambda: bool(last("a") and last("b") and not last("a") & last("b")),
                    "both assigned, disjoint")
        last_a, last_b = last("a"), last("b")
    finally:
        workers.close()
    return live, last_a, last_b


def test_two_workers_with_a_venues_inputs_on_both_equal_the_replay(
    services: Settings, day_dir: Path, tmp_path: Path
) -> None:
    settings, outputs, expected = _day_on_six_partitions(services, day_dir, "two-workers")
    live, last_a, last_b = _on_two_workers(settings, tmp_path, expected, "risk")
    assert _venue_apart(settings, expected, last_a, last_b), "no venue had its inputs on both workers"
    assert_same_as_replay(live, expected, outputs)


def test_three_workers_one_killed_9_and_restarted_equal_the_replay(
    services: Settings, full_day_dir: Path, tmp_path: Path
) -> None:
    """b is killed with 30 % of the inputs committed; the others take over its partitions (its open
    transaction aborted by the survivor that fences it, or else by its timeout: fencing needs the
    survivor to have seen b in the group at an earlier rebalance); later b comes back with the same id."""
    # The day is in the log before the workers start (catch-up: the order is the log's, whatever the
    # timing). The whole day, not its first hours: on an idle machine the group finished six hours
    # before the kill came. (Producing it topic after topic while they run would be the live edge, where
    # the timer may pass the ticks' partitions before they exist: timing would decide.)
    settings, outputs, expected = _day_on_six_partitions(services, full_day_dir, "three-kill9")
    progress = _progress(settings)
    workers = _Workers(settings, tmp_path)
    try:
        for worker_id in ("a", "b", "c"):
            workers.start(worker_id)
        _wait_until(workers, lambda: len(workers.assignments("b")) > 0 and progress() >= 0.3, "30 % committed")
        workers.kill_9("b")
        killed_at = progress()
        # a and c take b's partitions once its session expires
        owned_by_b = set().union(*workers.assignments("b")[-1:])

        def taken_over() -> bool:
            latest = [workers.assignments(w)[-1:] for w in ("a", "c")]
            return owned_by_b <= set().union(*(s for found in latest for s in found))

        _wait_until(workers, taken_over, "the survivors own the killed worker's partitions")
        workers.start("b")  # back with the same id: it rejoins and gets partitions again
        live = _finished(workers, settings, expected)
    finally:
        workers.close()
    assert killed_at < 1, "the kill came after the workers had finished"
    assert_same_as_replay(live, expected, outputs, f"killed at {killed_at:.0%}; logs {tmp_path}\n")


def test_scaled_from_one_to_three_to_two_workers_while_input_flows_equals_the_replay(
    services: Settings, full_day_dir: Path, tmp_path: Path
) -> None:
    """One worker, then three (two join while it is busy: it gives partitions up, committing what it
    processed, and the newcomers restore their state from the changelog), then two (the first stops
    cleanly; its partitions move once its static membership expires)."""
    # the whole day: on an idle machine one worker finished half of it before two more had joined
    settings, outputs, expected = _day_on_six_partitions(services, full_day_dir, "scale-1-3-2")
    progress = _progress(settings)
    workers = _Workers(settings, tmp_path)
    try:
        last = workers.last_assignment
        workers.start("a")
        _wait_until(workers, lambda: progress() >= 0.05, "5 % committed")
        every = last("a")  # alone, it owns every partition of every stage
        workers.start("b")
        workers.start("c")
        _wait_until(workers, lambda: all(last(w) for w in "bc") and last("a") < every, "three workers share them")
        three_at = progress()
        workers.stop("a")
        _wait_until(workers, lambda: last("b") | last("c") == every, "b and c own every partition")
        stopped_at = progress()
        live = _finished(workers, settings, expected)
    finally:
        workers.close()
    assert three_at < 1 and stopped_at < 1, f"the scaling came after the end ({three_at:.0%}, {stopped_at:.0%})"
    context = f"three at {three_at:.0%}, two at {stopped_at:.0%}; logs {tmp_path}\n"
    assert_same_as_replay(live, expected, outputs, context)
    # the changelog the newcomers restored from rolls segments so that the broker compacts it (bench.recovery)
    admin = AdminClient(admin_config(settings))
    changelog = changelog_topic(settings, "risk", "risk")
    [future] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, changelog)]).values()
    config = {k: v.value for k, v in future.result().items()}
    assert {k: config[k] for k in settings.kafka.changelog_config()} == settings.kafka.changelog_config()
    assert config["cleanup.policy"] == "compact"


def _churned(settings: Settings, tmp_path: Path, pipeline: str, inputs: tuple[str, ...],
             parts: list[Path] | list[Callable[[], None]], *, live_edge: bool,
             expected: dict[str, list] | None = None,
             compacted: tuple[str, ...] = ()) -> tuple[tuple[str, ...], dict[str, list], dict[str, list]]:
    """The group changes while it works: one worker (a); two join (three workers: a gives partitions up,
    committing first, and b and c restore their state from the changelog); b is killed with ``kill -9``
    as soon as the three share the work; c stops cleanly once a and c own b's partitions (a finishes
    alone). With ``live_edge`` the input's four parts arrive one at each of these steps; otherwise all of
    it is in the log before a starts (what a stage that merges several writers needs for the replay's
    order: README, "Running on several machines"). ``parts``: files of the one input, or functions that
    produce a part. The output topics, the replay's outputs of the whole input (or ``expected``), and the
    live outputs (``compacted`` topics left out: :func:`_finished`)."""
    producer = FileProducer(settings, inputs[0]) if len(inputs) == 1 else None
    workers = _Workers(settings, tmp_path, pipeline)
    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-{pipeline}"))
    pending = list(parts)

    def arrive(everything: bool = False) -> None:
        """The next part (live edge), or everything left."""
        while pending:
            part = pending.pop(0)
            if isinstance(part, Path):
                producer.produce_file(part)
            else:
                part()
            if live_edge and not everything:
                return

    def committed() -> int:
        ends = end_offsets(settings, [settings.topic(name) for name in inputs])
        return sum(max(tp.offset, 0) for tp in group.committed([TopicPartition(t, p) for t, p in ends], timeout=10))

    last = workers.last_assignment

    try:
        arrive()
        workers.start("a")
        _wait_until(workers, lambda: committed() > 0, "a committed")
        every = last("a")
        arrive()
        workers.start("b")
        workers.start("c")
        _wait_until(workers, lambda: all(last(w) for w in "bc") and last("a") < every, "three workers share them")
        workers.kill_9("b")
        arrive()
        _wait_until(workers, lambda: last("a") | last("c") == every, "a and c took b's partitions over")
        workers.stop("c")
        arrive(everything=True)
        if expected is None:
            outputs, expected = _replayed(settings, pipeline)
        else:
            outputs = tuple(expected)
        live = _finished(workers, settings, expected, compacted=compacted)
    finally:
        workers.close()
        group.close()
    return outputs, expected, live


def test_retail_on_two_workers_equals_the_replay(services: Settings, tmp_path: Path) -> None:
    """Retail has two repartitions: listings (retailer:sku) to blocks, blocks to match ids. A block gathers
    listings of every listing partition, and a match id's records can come from several blocks, so with
    two workers both topics get their records from both. The opportunity tracker (timers on its
    partition's clock) must still see the replay's order: the matching stage stamps what it writes with
    positions that extend the positions it read, and announces its progress."""
    from streams.generator import generate_day
    from tests.integration.test_retail_kafka import DAY as RETAIL_DAY
    from tests.integration.test_retail_kafka import LISTINGS, SEED

    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.retail-two."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (dataclasses.replace(topic(LISTINGS), partitions=PARTITIONS),))
    ensure_topics(settings)
    generate_day(tmp_path, SEED, RETAIL_DAY, domains=("retail",))
    FileProducer(settings, LISTINGS).produce_file(tmp_path / f"{LISTINGS}.jsonl")
    outputs, expected = _replayed(settings, "retail")
    assert len(expected["retail.opportunities.v1"]) > 2000

    live, _, _ = _on_two_workers(settings, tmp_path, expected, "retail")
    _assert_retail_same_as_replay(live, expected, outputs)


def _assert_retail_same_as_replay(live: dict[str, list], expected: dict[str, list], outputs: tuple[str, ...]) -> None:
    repartitions = ("retail.by-block.v1", "retail.matches.v1")
    _assert_same_as_replay(live, expected, [t for t in outputs if t not in repartitions])
    for name in repartitions:  # the same events, once each (their log order is the writers')
        got = sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for _, _, r in live[name])
        assert got == sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for _, _, r in expected[name]), name
        assert len(got) == len(set(got)), f"duplicates in {name}"


def test_retail_through_scaling_and_a_kill_9_equals_the_replay(services: Settings, tmp_path: Path) -> None:
    """Retail's three stages (two repartitions, each read by a stage that merges the writers' tasks in
    position order) while workers join, one is killed and one leaves."""
    from streams.generator import generate_day
    from tests.integration.test_retail_kafka import DAY as RETAIL_DAY
    from tests.integration.test_retail_kafka import LISTINGS, SEED

    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.retail-churn."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (dataclasses.replace(topic(LISTINGS), partitions=PARTITIONS),))
    ensure_topics(settings)
    parts = []
    for i in range(3):  # three days, all in the log before the first worker starts
        day_dir = tmp_path / f"day{i}"
        day_dir.mkdir()
        generate_day(day_dir, SEED, RETAIL_DAY - dt.timedelta(days=2 - i), domains=("retail",))
        parts.append(day_dir / f"{LISTINGS}.jsonl")
    outputs, expected, live = _churned(settings, tmp_path, "retail", (LISTINGS,), parts, live_edge=False)
    assert len(expected["retail.opportunities.v1"]) > 2000
    _assert_retail_same_as_replay(live, expected, outputs)


def test_retail_at_the_live_edge_through_scaling_and_a_kill_9_equals_the_replay(
    services: Settings, tmp_path: Path
) -> None:
    """The retail day arriving in four parts while the group scales 1 -> 3 -> 2 (a ``kill -9`` among them):
    the listing stage's tasks on several workers write ``retail.by-block.v1`` while their sources are at the
    live edge, so the matching stage must merge the writers by their positions without taking a writer's
    momentary "caught up" for the end of its source (before the fix: one match's opportunities of ~1,600
    differed, in 3 of 3 runs)."""
    from streams.generator import generate_day
    from tests.integration.test_retail_kafka import DAY as RETAIL_DAY
    from tests.integration.test_retail_kafka import LISTINGS, SEED

    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.retail-edge."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (dataclasses.replace(topic(LISTINGS), partitions=PARTITIONS),))
    ensure_topics(settings)
    generate_day(tmp_path, SEED, RETAIL_DAY, domains=("retail",))
    parts = split_lines(tmp_path / f"{LISTINGS}.jsonl", tmp_path, 4)
    outputs, expected, live = _churned(settings, tmp_path, "retail", (LISTINGS,), parts, live_edge=True)
    assert len(expected["retail.opportunities.v1"]) > 1000
    _assert_retail_same_as_replay(live, expected, outputs)


def _by_event_time(path: Path, out_dir: Path, n: int) -> list[Path]:
    """The file in ``n`` parts of equal event-time spans (every input's part i covers the same hours, as
    feeds that keep up with each other deliver them)."""
    lines = path.read_bytes().splitlines(keepends=True)
    times = [dt.datetime.fromisoformat(orjson.loads(x)["event_time"]) for x in lines]
    start, span = min(times), (max(times) - min(times)) / n
    parts = [out_dir / f"{path.stem}.part{i}.jsonl" for i in range(n)]
    for i, part in enumerate(parts):
        part.write_bytes(b"".join(x for x, t in zip(lines, times, strict=True)
                                  if min(int((t - start) / span), n - 1) == i))
    return parts


def test_risk_at_the_live_edge_through_scaling_and_a_kill_9_equals_the_replay(
    services: Settings, day_dir: Path, tmp_path: Path
) -> None:
    """The risk day's first six hours arriving in four parts while the group scales 1 -> 3 -> 2 with a
    ``kill -9``: the risk stage merges the rekey tasks' writes at the live edge. Each part is the next
    90 minutes of every input, produced in slices of 9 minutes, every input's slice in turn, as feeds
    that keep up with each other deliver them (what the live-edge guarantee assumes: README, "Running on
    several machines"; one input's whole part seconds after another's is beyond it)."""
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.risk-edge."
    settings = services.with_({"kafka__topic_prefix": prefix, "risk": day_config()})
    ensure_topics(settings, tuple(dataclasses.replace(topic(t), partitions=PARTITIONS) for t in INPUTS))
    ensure_topics(settings)
    slices = 10
    split = {name: _by_event_time(day_dir / f"{name}.jsonl", tmp_path, 4 * slices) for name in INPUTS}
    producers = {name: FileProducer(settings, name) for name in INPUTS}

    def part(i: int) -> Callable[[], None]:
        return lambda: [producers[name].produce_file(split[name][k])
                        for k in range(i * slices, (i + 1) * slices) for name in INPUTS
                        if split[name][k].stat().st_size]

    outputs, expected, live = _churned(settings, tmp_path, "risk", INPUTS, [part(i) for i in range(4)],
                                       live_edge=True)
    assert len(expected["risk.order-decisions.v1"]) > 500
    assert_same_as_replay(live, expected, outputs, f"logs {tmp_path}\n")


def _six_hours_of_ticks(services: Settings, full: Path, tmp_path: Path, name: str) -> tuple[Settings, Path]:
    """The first six hours of the generated day's ticks (fx and crypto feeds, from ``full``) in a file, and
    settings with a prefix of their own whose md.ticks.v1 has six partitions."""
    cutoff = f"{DAY.isoformat()}T06:00:00"
    ticks = tmp_path / "md.ticks.v1.jsonl"
    lines = (full / "md.ticks.v1.jsonl").read_bytes().splitlines(keepends=True)
    ticks.write_bytes(b"".join(x for x in lines if orjson.loads(x)["event_time"] < cutoff))
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.{name}."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (dataclasses.replace(topic("md.ticks.v1"), partitions=PARTITIONS),))
    ensure_topics(settings)
    return settings, ticks


def test_marketdata_on_two_workers_equals_the_replay(services: Settings, ticks_day_dir: Path,
                                                     tmp_path: Path) -> None:
    """Market data has one input topic keyed per symbol and no repartition: two workers split its six
    partitions, each partition's clock (bars of quiet keys close on it) is one worker's, and every derived
    topic equals the replay per key. The first six hours of the generated day (fx and crypto feeds)."""
    settings, ticks = _six_hours_of_ticks(services, ticks_day_dir, tmp_path, "md-two")
    FileProducer(settings, "md.ticks.v1").produce_file(ticks)
    outputs, expected = _replayed(settings, "marketdata")
    assert len(expected["md.bars.v1"]) > 500

    live, _, _ = _on_two_workers(settings, tmp_path, expected, "marketdata")
    _assert_same_as_replay(live, expected, outputs)


def test_marketdata_through_scaling_and_a_kill_9_equals_the_replay(services: Settings, ticks_day_dir: Path,
                                                                  tmp_path: Path) -> None:
    """Market data (per-partition clocks: quiet keys' bars close on them) while workers join, one is
    killed and one leaves. The first six hours of the generated day, arriving in four parts."""
    settings, ticks = _six_hours_of_ticks(services, ticks_day_dir, tmp_path, "md-churn")
    parts = split_lines(ticks, tmp_path, 4)
    outputs, expected, live = _churned(settings, tmp_path, "marketdata", ("md.ticks.v1",), parts, live_edge=True)
    assert len(expected["md.bars.v1"]) > 500
    _assert_same_as_replay(live, expected, outputs)


def test_recommendations_through_scaling_and_a_kill_9_equal_the_backtest(services: Settings, tmp_path: Path) -> None:
    """The daily job's two stages (route to shards, then the shards) on inputs of six partitions, three
    years of 80 tickers and a job request per trading day, all in the log; workers join, one is killed,
    one leaves: every date answered once per shard, the outputs equal the backtest's."""
    from processors.recommendations.calendar import TradingCalendar
    from streams.engines.recommend import job_request, produce_job_requests, run_backtest
    from streams.generator.recommendations import HistoryConfig, write_history
    from tests.integration.test_marketdata_live import _plain
    from tests.integration.test_recommendations_kafka import INPUTS as RECO_INPUTS
    from tests.integration.test_recommendations_kafka import OUTPUTS as RECO_OUTPUTS
    from tests.integration.test_recommendations_kafka import _check

    history = HistoryConfig(seed=13, start=dt.date(2021, 1, 4), end=dt.date(2023, 12, 29), tickers=80)
    first, last = dt.date(2021, 3, 1), dt.date(2023, 12, 29)
    write_history(tmp_path, history)
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.reco-churn."
    settings = services.with_({"kafka__topic_prefix": prefix, "recommendations__shards": 4})
    ensure_topics(settings, tuple(dataclasses.replace(topic(t), partitions=PARTITIONS) for t in RECO_INPUTS))
    ensure_topics(settings)
    days = TradingCalendar(settings.recommendations).trading_days(first, last)

    def produce() -> None:
        for name in RECO_INPUTS[:-1]:
            FileProducer(settings, name).produce_file(tmp_path / f"{name}.jsonl")
        produce_job_requests(settings, [job_request(settings, d, "backtest") for d in days])

    produce()
    sink, _report, _days = run_backtest(settings, first, last)
    expected: dict[str, list] = {t: [] for t in RECO_OUTPUTS}
    for e in sink.emits:
        expected[e.topic].append((e.key, e.schema, _plain(e.record)))
    _outputs, _expected, live = _churned(settings, tmp_path, "recommendations", RECO_INPUTS, [], live_edge=False,
                                         expected=expected)
    _check(live, expected, days, tickers=80)


def _keys_on_every_partition(template: str, count: int = PARTITIONS) -> list[str]:
    """One key per partition: the first of ``template.format(0)``, ``template.format(1)``, ... on each."""
    keys: dict[int, str] = {}
    i = 0
    while len(keys) < count:
        keys.setdefault(partition_of(template.format(i), count), template.format(i))
        i += 1
    return sorted(keys.values())


def test_scanner_through_scaling_and_a_kill_9_equals_the_replay(services: Settings, tmp_path: Path) -> None:
    """The scanner is keyed by scanner (a snapshot is one scanner's whole board, its state one processor's):
    it scales out across scanners. Forty minutes of the generated day's snapshots around the open (the
    10:00 persistence point in them) as several scanners whose names cover the six partitions, arriving in
    four parts while the group scales 1 -> 3 -> 2 with a ``kill -9``. Every derived topic equals the replay
    per key; ``scanner.results.v1`` (compacted at once: the day is weeks old) has the replay's last value
    per key, tombstones included."""
    from processors.core import TOMBSTONE
    from streams.generator import generate_day
    from tests.integration.test_scanner_kafka import DAY as SCANNER_DAY
    from tests.integration.test_scanner_kafka import INPUT, RESULTS, _latest, _local
    from tests.integration.test_scanner_kafka import _read_outputs as _scanner_outputs

    generate_day(tmp_path, 42, SCANNER_DAY, domains=("scanner",))
    lines = [orjson.loads(x) for x in (tmp_path / f"{INPUT}.jsonl").read_bytes().splitlines()]
    picked = [x for x in lines if "09:25:00" <= _local(x) < "10:05:00"]
    scanners = _keys_on_every_partition("gappers-{}")
    day = tmp_path / "scanners.jsonl"  # every snapshot time: each scanner's, in turn
    day.write_bytes(b"".join(orjson.dumps({**x, "scanner": name, "event_id": f"{name}:{x['event_id']}"}) + b"\n"
                             for x in picked for name in scanners))
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.scanner-churn."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (dataclasses.replace(topic(INPUT), partitions=PARTITIONS),))
    ensure_topics(settings)
    parts = split_lines(day, tmp_path, 4)
    outputs, expected, live = _churned(settings, tmp_path, "scanner", (INPUT,), parts, live_edge=True,
                                       compacted=(RESULTS,))
    expected = {t: [(k, s, {} if s == TOMBSTONE else r) for k, s, r in v] for t, v in expected.items()}
    assert {k.split(":")[0] for k, _, _ in expected["scanner.boards.v1"]} == set(scanners)
    assert len(expected["scanner.top.v1"]) > 100 and any(s == TOMBSTONE for _, s, _ in expected[RESULTS])
    live[RESULTS] = _scanner_outputs(settings)[RESULTS]  # tombstones included
    _assert_same_as_replay(live, expected, [t for t in outputs if t != RESULTS], f"logs {tmp_path}\n")
    assert _latest(live[RESULTS]) == _latest(expected[RESULTS])


def _paper_day(symbols: list[str], seconds: int) -> list[tuple[str, dict]]:
    """Ticks of each symbol every 0.5 s (a mid around 100 swinging 1 % over two minutes, 1 bp spread) and an
    order every 5 s per symbol in a cycle: market buy, limit buy 0.5 % under the mid (fills on the swing
    down or expires), limit sell 0.5 % over, market sell."""
    import math

    from tests.support.risk_events import MS, T0, S, submitted, tick

    events = []
    for n, symbol in enumerate(symbols):
        for i in range(seconds * 2):
            t = T0 + i * 500 * MS + n * MS
            mid = round(100 * (1 + 0.01 * math.sin(2 * math.pi * (i / 240 + n / len(symbols)))), 2)
            events.append(tick(t, mid, round(mid + 0.01, 2), symbol=symbol, event_id=f"binance:{symbol}:{i}"))
        for k in range(seconds // 5):
            t = T0 + k * 5 * S + 100 * MS + n * 10 * MS
            mid = 100 * (1 + 0.01 * math.sin(2 * math.pi * ((k * 10 + 0.2) / 240 + n / len(symbols))))
            coid = f"{symbol}:{k}"
            match k % 4:
                case 0:
                    events.append(submitted(t, coid, "BUY", "1", order_type="MARKET", symbol=symbol))
                case 1:
                    events.append(submitted(t, coid, "BUY", "1", f"{mid * 0.995:.2f}", symbol=symbol))
                case 2:
                    events.append(submitted(t, coid, "SELL", "1", f"{mid * 1.005:.2f}", symbol=symbol))
                case _:
                    events.append(submitted(t, coid, "SELL", "1", order_type="MARKET", symbol=symbol))
    return sorted(events, key=lambda e: e[1]["event_time"])


def _copied_by_event_time(settings: Settings, source: Settings, names: tuple[str, ...],
                          n: int) -> list[Callable[[], None]]:
    """``n`` functions, the i-th of which copies the i-th of ``n`` equal event-time spans of the topics
    ``names`` from ``source``'s prefix to ``settings``' (same partition, key, value, headers, timestamp), in ten slices,
    every topic's slice in turn (as feeds that keep up with each other deliver them)."""
    from confluent_kafka import Producer

    from streams.kafka.clients import producer_config
    from streams.kafka.compacted import read_topic_to_end

    serde = default_serde(source)
    from streams.kafka.headers import is_marker, read_writer_watermark

    def event_time(m: Any) -> int:
        if read_writer_watermark(m.value(), m.headers()) is not None:
            return m.timestamp()[1] * 1000  # a risk task's watermark (T is its timestamp): copied with the decisions
        return serde.decode(m.value())[1]["event_time"]

    messages = {name: [(event_time(m), m.partition(), m.key(), m.value(), m.headers(), m.timestamp()[1])
                       for m in read_topic_to_end(source, [source.topic(name)])
                       if not is_marker(m.value(), m.headers())  # the door's watermarks are not events
                       or read_writer_watermark(m.value(), m.headers()) is not None]
                for name in names}  # fmt: skip
    start = min(m[0] for found in messages.values() for m in found)
    span = (max(m[0] for found in messages.values() for m in found) - start) / (10 * n)
    slices = {name: [[m for m in found if min(int((m[0] - start) / span), 10 * n - 1) == k] for k in range(10 * n)]
              for name, found in messages.items()}
    producer = Producer(producer_config(settings))

    def part(i: int) -> Callable[[], None]:
        def copy() -> None:
            for k in range(10 * i, 10 * (i + 1)):
                for name in names:
                    for _, partition, key, value, headers, ts in slices[name][k]:
                        producer.produce(settings.topic(name), value, key, partition=partition, headers=headers,
                                         timestamp=ts)
                    producer.flush(30)
        return copy

    return [part(i) for i in range(n)]


def _announced_through(settings: Settings, name: str) -> int:
    """The lowest watermark, over the topic's partitions, that its writing tasks announced (the min over the
    writers of each partition, as its readers take it); -1 while a partition has no complete set."""
    from processors.ordering import WriterWatermarks
    from streams.kafka.compacted import read_topic_to_end
    from streams.kafka.headers import read_writer_watermark

    writers, known = WriterWatermarks(), {}
    partitions = set()
    for m in read_topic_to_end(settings, [settings.topic(name)]):
        partitions.add(m.partition())
        announced = read_writer_watermark(m.value(), m.headers())
        if announced is not None:
            t = writers.combine(name, m.partition(), *announced)
            if t is not None:
                known[m.partition()] = t
    return min((known.get(p, -1) for p in partitions), default=-1)


def test_paper_venue_through_scaling_and_a_kill_9_equals_the_replay(services: Settings, tmp_path: Path) -> None:
    """The paper venue's two stages (rekey of the risk gate's decisions and the ticks into
    ``paper.inputs.v1``, then the venue per venue:symbol) on inputs of six partitions, six symbols whose keys
    cover them. The risk worker decides twenty minutes of orders under a prefix of its own; its decisions (with its
    tasks' watermarks) and the ticks then reach the paper group's inputs in four parts of five minutes (slices of 30 s,
    decisions then ticks) while the group scales 1 -> 3 -> 2 with a ``kill -9``. The order lifecycle equals
    the replay per key; ``paper.inputs.v1`` has the replay's events once each."""
    from processors import topics
    from processors.risk import RiskConfig
    from processors.risk.config import AccountVenueConfig
    from processors.venue import PaperVenueConfig
    from tests.integration.test_paper_venue_kafka import assert_paper_as_replayed, produce

    symbols = [key.removeprefix("binance:") for key in _keys_on_every_partition("binance:P{}/USDT")]
    risk = RiskConfig(accounts={"mm-1": {"binance": AccountVenueConfig(
        balances={"USDT": Decimal(10_000_000), **{s.split("/")[0]: Decimal(1_000_000) for s in symbols}})}},
        mark_update_s=3600)
    paper = PaperVenueConfig(latency_ms=50, max_fill_quantity=Decimal("0.4"), time_in_force_s=120)
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.paper-churn."
    gate = services.with_({"kafka__topic_prefix": f"{prefix}gate.", "risk": risk})
    settings = services.with_({"kafka__topic_prefix": prefix, "paper": paper})
    for s in (gate, settings):
        ensure_topics(s, tuple(dataclasses.replace(topic(t), partitions=PARTITIONS)
                               for t in (topics.TICKS, topics.ORDERS, topics.DECISIONS)))
        ensure_topics(s)
    events = _paper_day(symbols, 20 * 60)
    produce(gate, events, tmp_path)
    orders = sum(1 for schema, _ in events if schema == "OrderSubmitted")
    risk_worker = _Workers(gate, tmp_path, "risk")
    last_ms = max(r["event_time"] for _, r in events) // 1000
    try:
        risk_worker.start("gate")
        _wait_until(risk_worker, lambda: len(_read_outputs(gate, (topics.DECISIONS,))[topics.DECISIONS]) >= orders,
                    "the risk gate's decisions")
        # and until its tasks announced every partition of the decisions complete through the last event (the
        # paper venue holds the decisions strictly: what lies past their watermark waits for the gate's next one)
        _wait_until(risk_worker, lambda: _announced_through(gate, topics.DECISIONS) >= last_ms,
                    "the risk gate's watermark on its decisions")
    finally:
        risk_worker.close()
    parts = _copied_by_event_time(settings, gate, (topics.DECISIONS, topics.TICKS), 4)
    outputs, expected, live = _churned(settings, tmp_path, "venue-paper", (topics.DECISIONS, topics.TICKS), parts,
                                       live_edge=True)
    assert sum(1 for _, s, _ in expected[topics.ORDERS] if s == "OrderFilled") > 1000
    assert {k for k, _, _ in expected[topics.ORDERS]} == {f"binance:{s}" for s in symbols}
    assert_paper_as_replayed(live, expected)
