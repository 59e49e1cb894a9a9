"""The scanner pipeline through the real broker: slices of the generated day (the open with the 10:00
persistence point, the regular close, the post-market close; a snapshot behind the last one and a
duplicated row added) produced to ``scanner.snapshots.v1`` and run by ``mercado worker --pipeline
scanner``. The outputs (tombstones included) equal the replay's per key, also after ``kill -9`` of the
worker twice, the compacted topic alone rebuilds the board, and the sink writes the replay's top-N rows."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from processors.core import TOMBSTONE
from streams.commands.scanner import manual_entries
from streams.config import Settings
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.producer import FileProducer
from streams.kafka.clients import committed_reader_config
from streams.kafka.compacted import current_board, read_board_lines, read_topic_to_end
from streams.kafka.consumer import data_end_offsets, default_serde, end_offsets
from streams.kafka.headers import PROCESSING_HEADER
from streams.runtime.pipelines import build_stages
from tests.integration.test_marketdata_live import (
    ENGINES,
    _assert_same_as_replay,
    _Collector,
    _isolated,
    _plain,
    _stop,
)
from tests.support.sink import create_database, drain, drop_database, isolated, migrated, query
from tests.support.workers import start_worker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DAY = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parents[2]
INPUT = "scanner.snapshots.v1"
NEW_YORK = ZoneInfo("America/New_York")
RESULTS = "scanner.results.v1"  # compacted
OUTPUTS = (RESULTS, "scanner.deltas.v1", "scanner.boards.v1", "scanner.alerts.v1", "scanner.top.v1",
           "scanner.rejected.v1")


@pytest.fixture(scope="module")
def day_lines(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    from streams.generator import generate_day

    out = tmp_path_factory.mktemp("scanner-day")
    generate_day(out, 42, DAY, domains=("scanner",))
    return [orjson.loads(line) for line in (out / f"{INPUT}.jsonl").read_bytes().splitlines()]


def _local(line: dict) -> str:
    t = dt.datetime.fromisoformat(line["event_time"].replace("Z", "+00:00")).astimezone(NEW_YORK)
    return t.strftime("%H:%M:%S")


def _slice(lines: list[dict], windows: Iterable[tuple[str, str]], path: Path) -> Path:
    """The snapshots inside the windows (New York time), plus a snapshot behind the last one (dead letter)
    and a duplicated row (refused alone)."""
    picked = [line for line in lines if any(lo <= _local(line) < hi for lo, hi in windows)]
    behind = dict(picked[3], event_id="behind-the-last-one")
    picked.insert(10, behind)
    picked[5] = dict(picked[5], rows=[*picked[5]["rows"], picked[5]["rows"][0]])
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in picked))
    return path


def _produce_and_replay(settings: Settings, path: Path) -> dict[str, list]:
    FileProducer(settings, INPUT).produce_file(path)
    return _replay(settings)


def _replay(settings: Settings) -> dict[str, list]:
    stages = build_stages("scanner", settings)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(INPUT)], None, None, serde)
    sink = _Collector()
    run_replay(iter(reader), stages, serde, sink)
    reader.close()
    return {t: [(k, s, {} if s == TOMBSTONE else r) for k, s, r in sink.events.get(t, [])] for t in OUTPUTS}


def _read_outputs(settings: Settings) -> dict[str, list]:
    """Every committed output message, tombstones included (as (key, "tombstone", {}))."""
    physical = {settings.topic(t): t for t in OUTPUTS}
    out: dict[str, list] = {t: [] for t in OUTPUTS}
    serde = default_serde(settings)
    for msg in read_topic_to_end(settings, list(physical)):
        if msg.value() is None:
            out[physical[msg.topic()]].append((msg.key().decode(), TOMBSTONE, {}))
        else:
            schema, record = serde.decode(msg.value())
            out[physical[msg.topic()]].append((msg.key().decode(), schema.name, _plain(record)))
    return out


def _start_worker(settings: Settings, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    return start_worker(settings, "scanner", extra_env=extra_env)


def _wait_for(settings: Settings, expected: dict[str, list], worker: subprocess.Popen, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    got: dict[str, list] = {}
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker exited with {worker.returncode}; see .mercado/worker-test.log"
        got = _read_outputs(settings)
        if all(len(got[t]) >= len(expected[t]) for t in expected if t != RESULTS) and (
                _latest(got[RESULTS]) == _latest(expected[RESULTS])):
            return got
        time.sleep(0.5)
    return got


def _dead_letter_reasons(settings: Settings) -> list[str]:
    return [v.decode() for msg in read_topic_to_end(settings, [settings.topic("mercado.deadletter.v1")])
            for k, v in msg.headers() or () if k == "mercado.dlq.reason"]


def _board_tickers(board: dict) -> dict:
    return {s: {c: [r["ticker"] for r in lines] for c, lines in cats.items()} for s, cats in board.items()}


@pytest.mark.parametrize("engine", ENGINES)
def test_live_scanner_equals_replay_and_the_compacted_topic_rebuilds_the_board(
    services: Settings, day_lines: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    settings = _isolated(services, f"scanner-{engine}")
    path = _slice(day_lines, [("09:20:00", "10:05:00"), ("15:55:00", "16:05:00"), ("19:55:00", "20:00:00")],
                  tmp_path / "slice.jsonl")
    FileProducer(settings, INPUT).produce_file(path)
    worker = _start_worker(settings, {"MERCADO_WORKER__ENGINE": engine})  # runs while this process replays
    try:
        expected = _replay(settings)
        assert len(expected["scanner.top.v1"]) > 100 and len(expected["scanner.rejected.v1"]) == 1
        assert {r["trigger"] for _, _, r in expected["scanner.top.v1"]} == {"interval", "close"}
        assert any(s == TOMBSTONE for _, s, _ in expected[RESULTS])
        live = _wait_for(settings, expected, worker)
    finally:
        _stop(worker)
    _assert_same_as_replay(live, expected, [t for t in OUTPUTS if t != RESULTS])
    assert _latest(live[RESULTS]) == _latest(expected[RESULTS])
    assert _dead_letter_reasons(settings) == ["event-time-behind"]
    # every board summary carries its snapshot's processing time (a header: the payload equals the replay's)
    boards = [msg for msg in read_topic_to_end(settings, [settings.topic("scanner.boards.v1")])]
    took = [int(dict(m.headers() or [])[PROCESSING_HEADER]) for m in boards]
    assert len(took) == len(live["scanner.boards.v1"]) and all(us > 0 for us in took)
    assert sorted(m.timestamp()[1] for m in boards) == sorted(r["event_time"] // 1000
                                                              for _, _, r in live["scanner.boards.v1"])

    # The compacted topic alone gives the board: the replay's last value per key, and the live summaries' tops.
    board = current_board(settings)
    want: dict[str, dict] = {}
    for key, schema, record in expected[RESULTS]:
        want[key] = None if schema == TOMBSTONE else record
    assert {r["event_id"] for r in read_board_lines(settings)} == {r["event_id"] for r in want.values() if r}
    last_summary = {r["session"]: r for _, _, r in live["scanner.boards.v1"]}
    assert set(board) == set(last_summary) == {"PRE_MARKET", "REGULAR", "POST_MARKET"}
    for session, summary in last_summary.items():
        for c in summary["categories"]:
            assert [line["ticker"] for line in c["top"]] == _board_tickers(board)[session].get(c["category"], [])[:10]
            assert len(board[session].get(c["category"], [])) == c["count"]
    manual = manual_entries(board, 5)
    assert manual and {r["trigger"] for r in manual} == {"manual"}
    # `mercado scanner board` prints that board
    monkeypatch.setenv("MERCADO_KAFKA__TOPIC_PREFIX", settings.kafka.topic_prefix)
    from streams.commands.cli import app
    from streams.config import get_settings

    get_settings.cache_clear()
    try:
        printed = CliRunner().invoke(app, ["scanner", "board", "--session", "regular", "--category", "top_gainers",
                                           "--top", "3"])
    finally:
        get_settings.cache_clear()
    assert printed.exit_code == 0, printed.output
    gainers = _board_tickers(board)["REGULAR"]["top_gainers"]
    assert f"REGULAR · top_gainers ({len(gainers)})" in printed.output
    assert all(tk in printed.output for tk in gainers[:3]) and "PRE_MARKET" not in printed.output

    # The sink writes the live top-N entries: the replay's, once each.
    database = create_database(services, "scanner_kafka")
    try:
        db = migrated(isolated(database, kafka__topic_prefix=settings.kafka.topic_prefix, db__timescaledb="off"))
        drain(db, ["scanner.top.v1"], ends=data_end_offsets(db, [db.topic("scanner.top.v1")]))
        rows = query(db, "SELECT event_id, ticker, rank, trigger FROM scanner_top")
        assert sorted(tuple(r) for r in rows) == sorted(
            (r["event_id"], r["ticker"], r["rank"], r["trigger"]) for _, _, r in expected["scanner.top.v1"])
    finally:
        drop_database(database)


def _latest(events: list) -> dict[str, tuple[str, dict]]:
    """The last value per key: what a compacted topic keeps. (The broker compacts ``scanner.results.v1``
    at once here: a segment whose first timestamp is older than ``segment.ms`` rolls at every append, and
    the generated day's event times are weeks old.)"""
    return {key: (schema, record) for key, schema, record in events}


def test_kill_9_of_the_scanner_worker_resumes_exactly(
    services: Settings, day_lines: list[dict], tmp_path: Path
) -> None:
    """The worker (committing every 50 ms) is SIGKILLed when it has committed a third and two thirds of the
    snapshots, and restarted; its outputs equal the replay's (same ids, order per key, tombstones)."""
    settings = _isolated(services, "scanner-kill9")
    path = _slice(day_lines, [("09:00:00", "11:30:00")], tmp_path / "slice.jsonl")
    expected = _produce_and_replay(settings, path)
    ends = end_offsets(settings, [settings.topic(INPUT)])
    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-scanner"))
    env = {"MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    worker = _start_worker(settings, env)
    kills = []
    try:
        for threshold in (1 / 3, 2 / 3):
            deadline = time.monotonic() + 120
            while (done := _committed_fraction(group, ends)) < threshold:
                assert worker.poll() is None, f"the worker exited with {worker.returncode}"
                assert time.monotonic() < deadline, f"the worker committed only {done:.0%} of the inputs"
                time.sleep(0.01)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            kills.append(done)
            worker = _start_worker(settings, env)
        live = _wait_for(settings, expected, worker)
    finally:
        _stop(worker)
        group.close()
    assert all(done < 1 for done in kills), f"a kill came after the worker had finished: {kills}"
    _assert_same_as_replay(live, expected, [t for t in OUTPUTS if t != RESULTS])
    assert _latest(live[RESULTS]) == _latest(expected[RESULTS])


def _committed_fraction(consumer: Consumer, ends: dict[tuple[str, int], int]) -> float:
    tps = [TopicPartition(t, p) for t, p in ends]
    done = sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
    return done / sum(ends.values())
