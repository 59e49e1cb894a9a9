"""Market data through the real broker: the live faust worker vs the replay driver on a generated day.

Each test runs on its own topic prefix, so it sees only its own data. The replay of the same input
range is the reference: parity means the live worker's derived events equal the replay's, per key,
in the same order, with the same ids and payloads — also after the worker was killed with SIGKILL
in the middle of the day and restarted.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest

from infra.processes import stop_group
from streams.config import Settings
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.consumer import EventConsumer, default_serde
from streams.runtime.pipelines import build_pipeline
from tests.support.files import split_lines
from tests.support.workers import CommittedCounter, start_worker

pytestmark = pytest.mark.kafka

DAY = dt.date(2026, 11, 20)  # a Friday: USD/COP session open, crypto 24/7
ROOT = Path(__file__).resolve().parents[2]
# mercado worker --engine: both keep the contracts, both are tested (faust when its extra is installed, as in CI)
ENGINES = (
    "native",
    pytest.param(
        "faust",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("faust") is None,
            reason="the faust engine's extra is not installed: pip install -e '.[faust]'",
        ),
    ),
)


@pytest.fixture(scope="module")
def day_dir(generated_days) -> Path:  # tests/conftest.py: made once per session
    return generated_days(42, DAY)[0]


def _isolated(services: Settings, name: str) -> Settings:
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.{name}."  # under the session's prefix
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings)
    return settings


class _Collector:
    """Keeps (schema, key, event_id, record) of derived events, per topic."""

    def __init__(self) -> None:
        self.events: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)

    def write(self, outputs: list) -> None:
        for o in outputs:
            self.events[o.topic].append((o.key, o.emit.schema, _plain(o.emit.record)))

    def close(self) -> dict[str, int]:
        return {t: len(v) for t, v in self.events.items()}


def _plain(record: dict) -> dict:
    """The record as it is on the wire (without the driver's private ``_produced_us``)."""
    return {k: v for k, v in orjson.loads(orjson.dumps(record, default=str)).items() if not k.startswith("_")}


def _replay(settings: Settings, outputs: tuple[str, ...]) -> dict[str, list[tuple[str, str, dict]]]:
    spec = build_pipeline("marketdata", settings)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(t) for t in spec.inputs], None, None, serde)
    sink = _Collector()
    run_replay(iter(reader), spec, serde, sink)
    reader.close()
    return {t: sink.events.get(t, []) for t in outputs}


def _read_outputs(settings: Settings, topics: tuple[str, ...]) -> dict[str, list[tuple[str, str, dict]]]:
    out: dict[str, list[tuple[str, str, dict]]] = {t: [] for t in topics}
    physical = {settings.topic(t): t for t in topics}
    with EventConsumer(settings, list(physical)) as consumer:
        for ev in consumer.iterate(idle_timeout=10):
            out[physical[ev.topic]].append((ev.key or "", ev.schema.name, _plain(ev.record)))
    return out


def _per_key(events: list[tuple[str, str, dict]]) -> dict[str, list[tuple[str, dict]]]:
    grouped: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for key, schema, record in events:
        grouped[key].append((schema, record))
    return grouped


def _first_difference(topic: str, got: dict, want: dict) -> str:
    for key in sorted(set(got) | set(want)):
        a, b = got.get(key, []), want.get(key, [])
        if a != b:
            i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            return (f"{topic} {key}: live has {len(a)}, replay {len(b)}; first difference at #{i}: "
                    f"live {a[i] if i < len(a) else None} / replay {b[i] if i < len(b) else None}")
    return topic


def _assert_same_as_replay(live: dict[str, list], expected: dict[str, list], topics: Iterable[str],
                           context: str = "") -> None:
    """Per key, the live events equal the replay's (same ids, payloads, order), and no event id twice.
    Every topic's first difference in one message (a tick missing from bars shows up in the quality or
    late-tick topics too, which tells a lost input from a mis-timed one)."""
    topics = list(topics)
    differences = [_first_difference(topic, _per_key(live[topic]), _per_key(expected[topic]))
                   for topic in topics if _per_key(live[topic]) != _per_key(expected[topic])]
    assert not differences, context + "\n".join(differences)
    for topic in topics:
        ids = [rec["event_id"] for _, _, rec in live[topic]]
        assert len(ids) == len(set(ids)), f"duplicates in {topic}"


def _start_worker(settings: Settings, engine: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    return start_worker(settings, "marketdata", engine, extra_env)


def _wait_for(
    settings: Settings, expected: dict[str, list], timeout_s: float, worker: subprocess.Popen
) -> dict[str, list]:
    """Reads the worker's committed outputs once their counts reach the replay's (or time runs out); until
    then it only counts them (:class:`CommittedCounter`)."""
    deadline = time.monotonic() + timeout_s
    counter = CommittedCounter(settings, list(expected))
    try:
        while time.monotonic() < deadline:
            assert worker.poll() is None, f"the worker exited with {worker.returncode}; see .mercado/worker-test.log"
            counts = counter.read()
            if all(counts[t] >= len(expected[t]) for t in expected):
                got = _read_outputs(settings, tuple(expected))
                if all(len(got[t]) >= len(expected[t]) for t in expected):
                    return got
            time.sleep(0.5)
    finally:
        counter.close()
    return _read_outputs(settings, tuple(expected))  # what there is, for the comparison's message


def _stop(proc: subprocess.Popen) -> None:
    stop_group(proc)


def _expected_bar_starts(path: Path, interval_s: int, grace_us: int) -> dict[str, set[int]]:
    """Bars that must exist, computed from the input file alone: every interval holding a tick of the
    key whose end + grace the key's last event time has passed. (Sessions: the generator writes
    USD/COP ticks only inside its session and crypto trades 24/7.)"""
    from streams.codec.coerce import timestamp_micros

    step = interval_s * 1_000_000
    starts: dict[str, set[int]] = defaultdict(set)
    last: dict[str, int] = {}
    for line in path.open("rb"):
        row = orjson.loads(line)
        t = timestamp_micros(row["event_time"])
        key = row["source"] if row.get("type") == "Heartbeat" else f"{row['venue']}:{row['symbol']}"
        last[key] = max(last.get(key, t), t)
        if row.get("type", "PriceTick") == "PriceTick" and not row.get("backfill_id"):
            starts[key].add(t - t % step)
    return {k: {s for s in v if s + step + grace_us <= last[k]} for k, v in starts.items()}


@pytest.mark.parametrize("engine", ENGINES)
def test_live_worker_matches_replay_and_expected_bars(services: Settings, day_dir: Path, engine: str) -> None:
    settings = _isolated(services, f"parity-{engine}")
    FileProducer(settings, "md.ticks.v1").produce_file(day_dir / "md.ticks.v1.jsonl")
    spec = build_pipeline("marketdata", settings)
    worker = _start_worker(settings, engine)  # works through the day while this process computes the replay
    try:
        expected = _replay(settings, spec.outputs)
        assert len(expected["md.bars.v1"]) > 1000

        # Independent check of the replay's bars: every interval with ticks, per symbol and size.
        bars = defaultdict(set)
        for key, _, rec in expected["md.bars.v1"]:
            bars[(key, rec["interval_s"])].add(rec["start"])
        for interval in settings.marketdata.intervals_s:
            want = _expected_bar_starts(day_dir / "md.ticks.v1.jsonl", interval, settings.marketdata.grace_us)
            for key, starts in want.items():
                assert bars[(key, interval)] == starts, (key, interval)

        live = _wait_for(settings, expected, timeout_s=300, worker=worker)
    finally:
        _stop(worker)
    for topic in spec.outputs:
        assert _per_key(live[topic]) == _per_key(expected[topic]), topic


# A known defect of the faust engine (not of the native one): now and then, under load, a kill -9 loses one
# tick's effect on a bar (seen in CI simulation on 2026-12-06: coinbase:ETH/USDT bar #428 with 18 ticks
# live, 19 in the replay; once before, in session 11). Not shown to be found: session 19 fixed a defect that
# loses tick effects the same way (a rebalance during a batch, tests/unit/test_faust_revocation.py), but no
# rebalance was seen in this test's runs; the worker now logs one as a warning. The native engine is the default.
# As an expected failure it could not fail the suite, and it took 2.5-5 min of it (the slowest test): it runs
# when MERCADO_TEST_KNOWN_DEFECTS=1, for whoever works on the defect (README, Known limits).
KILL_9_ENGINES = (
    "native",
    pytest.param(
        "faust",
        marks=[
            *ENGINES[1].marks,
            pytest.mark.skipif(
                os.environ.get("MERCADO_TEST_KNOWN_DEFECTS") != "1",
                reason="known defect of the faust engine on kill -9 (README, Known limits); "
                "MERCADO_TEST_KNOWN_DEFECTS=1 runs it",
            ),
            pytest.mark.xfail(strict=False, reason="known defect: the faust engine may lose a tick on kill -9"),
        ],
    ),
)


@pytest.mark.parametrize("engine", KILL_9_ENGINES)
def test_kill_9_mid_day_resumes_exactly(services: Settings, day_dir: Path, tmp_path: Path, engine: str) -> None:
    """The day arrives in ten parts, as a live feed would. The worker commits every 50 ms (many
    commits, so kills land around them) and is SIGKILLed three times while it is busy — after parts
    two, four and seven, each time once it has produced more bars — with parts arriving while it is
    down. The final derived events must equal a replay of the whole input: nothing missing, nothing
    twice, the same ids and payloads in the same order per key."""
    settings = _isolated(services, f"kill9-{engine}")
    spec = build_pipeline("marketdata", settings)
    chunks = split_lines(day_dir / "md.ticks.v1.jsonl", tmp_path, 10)
    producer = FileProducer(settings, "md.ticks.v1")
    env = {"MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    worker = _start_worker(settings, engine, env)
    bars = CommittedCounter(settings, ["md.bars.v1"])
    try:
        sent = 0
        for kill_after in (2, 4, 7):
            bars_before = len(_read_outputs(settings, ("md.bars.v1",))["md.bars.v1"])  # exact; the counter may lag
            for chunk in chunks[sent:kill_after]:
                producer.produce_file(chunk)
            sent = kill_after
            deadline = time.monotonic() + 120
            while bars.read()["md.bars.v1"] <= bars_before:  # it is busy
                assert time.monotonic() < deadline, "the worker produced nothing"
                time.sleep(0.2)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            producer.produce_file(chunks[sent])  # arrives while the worker is down
            sent += 1
            worker = _start_worker(settings, engine, env)
        for chunk in chunks[sent:]:
            producer.produce_file(chunk)
        expected = _replay(settings, spec.outputs)
        assert len(expected["md.bars.v1"]) > 1000
        live = _wait_for(settings, expected, timeout_s=300, worker=worker)
    finally:
        _stop(worker)
        bars.close()
    _assert_same_as_replay(live, expected, spec.outputs)


def test_native_worker_across_a_broker_restart(services: Settings, day_dir: Path, tmp_path: Path) -> None:
    """The broker stops (SIGTERM) while the native worker is busy and comes back; the rest of the day
    arrives afterwards. The worker either rides it out (librdkafka reconnects) or ends with exit code 1
    and a message (crash-only: its transaction could not commit); then it is started again, as a
    supervisor would. Either way its outputs equal the replay's: nothing lost, nothing twice."""
    from infra.kafka_local import LocalKafka

    broker = LocalKafka(services)
    if broker.pid() is None or broker.bootstrap != services.bootstrap():
        pytest.skip("the broker is not the local one `mercado up` started")
    settings = _isolated(services, "broker-restart")
    spec = build_pipeline("marketdata", settings)
    chunks = split_lines(day_dir / "md.ticks.v1.jsonl", tmp_path, 4)
    producer = FileProducer(settings, "md.ticks.v1")
    for chunk in chunks[:2]:
        producer.produce_file(chunk)
    env = {"MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    worker = _start_worker(settings, "native", env)
    restarts = 0
    try:
        deadline = time.monotonic() + 120
        while not _read_outputs(settings, ("md.bars.v1",))["md.bars.v1"]:  # it is busy
            assert time.monotonic() < deadline, "the worker produced nothing"
            time.sleep(0.2)
        broker.stop()
        time.sleep(3)
        broker.ensure_started()
        broker.wait_ready(180)
        producer = FileProducer(settings, "md.ticks.v1")
        for chunk in chunks[2:]:
            producer.produce_file(chunk)
        expected = _replay(settings, spec.outputs)
        deadline = time.monotonic() + 300
        while True:
            if worker.poll() is not None:  # the supervisor's part
                assert worker.returncode == 1, f"the worker exited with {worker.returncode}"
                restarts += 1
                assert restarts <= 2, "the worker keeps failing after the broker came back"
                worker = _start_worker(settings, "native", env)
            live = _read_outputs(settings, tuple(expected))
            if all(len(live[t]) >= len(expected[t]) for t in expected) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        _stop(worker)
        broker.ensure_started()
    _assert_same_as_replay(live, expected, spec.outputs, f"restarts: {restarts}\n")


def test_native_worker_commits_outputs_at_once_and_offsets_at_the_interval(services: Settings) -> None:
    """At the live edge a transaction that holds outputs commits at once (one live linger, 5 ms, after its
    first output); ticks that produce nothing wait for the commit interval (here one hour, so never
    within the test). The bar and the offsets of every tick before it become visible together, in one
    transaction."""
    from confluent_kafka import Consumer, TopicPartition

    from streams.kafka.clients import committed_reader_config
    from tests.support.sink import EventProducer

    settings = _isolated(services, "commit-policy")
    ticks = settings.topic("md.ticks.v1")
    t0 = int(dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC).timestamp() * 1_000_000)
    producer = EventProducer(settings)
    seq = 0

    def tick(at_s: float) -> None:
        nonlocal seq
        seq += 1
        price = 100.0  # flat: no move alert, the bars are the only outputs
        producer.send("md.ticks.v1", "PriceTick", {
            "event_id": f"commit-policy:{seq}", "event_time": t0 + int(at_s * 1_000_000), "venue": "binance",
            "symbol": "BTC/USDT", "bid": price - 0.5, "ask": price + 0.5, "last": price, "volume": 1.0,
            "sequence": seq, "backfill_id": None,
        })

    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-marketdata"))
    parts = [TopicPartition(ticks, p) for p in group.list_topics(ticks, timeout=30).topics[ticks].partitions]

    def committed() -> int:
        return sum(max(tp.offset, 0) for tp in group.committed(parts, timeout=10))

    def bars_starting(start_s: int, timeout_s: float) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            bars = [rec for _, _, rec in _read_outputs(settings, ("md.bars.v1",))["md.bars.v1"]
                    if rec["interval_s"] == 60 and rec["start"] == t0 + start_s * 1_000_000]
            if bars:
                return bars
            assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        return []

    worker = _start_worker(settings, "native", {"MERCADO_WORKER__COMMIT_INTERVAL_S": "3600"})
    try:
        for s in (1, 20, 40):
            tick(s)
        tick(63)  # watermark 63 s: past the first minute's end + 2 s grace, its bar closes
        producer.flush()
        assert bars_starting(0, 120), "the first bar was not committed (its output did not trigger a commit)"
        assert committed() == 4  # the bar's transaction carried every tick's offset before it
        for s in (70, 80, 90):  # inside the second minute: no output
            tick(s)
        producer.flush()
        time.sleep(5)  # the worker reads them at once; at the old 10 ms live-edge cadence they were committed
        assert committed() == 4, "offsets alone were committed before the commit interval"
        assert not bars_starting(60, 0.5)
        tick(125)  # closes the second minute
        producer.flush()
        second = bars_starting(60, 120)
        assert [b["tick_count"] for b in second] == [4]  # 63, 70, 80, 90 s
        assert committed() == 8
    finally:
        _stop(worker)
        group.close()
