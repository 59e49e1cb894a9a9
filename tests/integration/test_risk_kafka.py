"""The risk pipeline through the real broker: the generated day (crypto ticks, order flow, venue health)
produced to its three input topics *before* the worker starts — the hardest case for a live worker,
whose consumer then fetches an hour of orders before the ticks they were priced against. The risk
stage reads the repartition topic in position order (streams/runtime/ordered.py), which is the order a
replay of the same topics gives: the same decisions, the drawdown breaker opening at the expected event."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from bench.risk import VENUES, day_config, day_records
from streams.config import Settings
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.producer import FileProducer
from streams.kafka.clients import committed_reader_config
from streams.kafka.consumer import data_end_offsets, default_serde, end_offsets
from streams.runtime.pipelines import build_stages
from tests.integration.test_marketdata_live import (
    ENGINES,
    _assert_same_as_replay,
    _Collector,
    _isolated,
    _stop,
    _wait_for,
)
from tests.support.sink import create_database, drain, drop_database, isolated, migrated, query
from tests.support.workers import start_worker
from tests.unit.test_risk_day import expected_drawdown_openings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DAY = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("trading.orders.v1", "trading.venue-health.v1", "md.ticks.v1")


@pytest.fixture(scope="module")
def day_dir(generated_days) -> Path:  # tests/conftest.py: made once per session
    return generated_days(42, DAY, ("crypto", "orders"))[0]


def _start_risk_worker(settings: Settings, engine: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    return start_worker(settings, "risk", engine, extra_env)


def _day_and_its_replay(services: Settings, day_dir: Path, name: str) -> tuple[Settings, tuple[str, ...], dict]:
    """The generated risk day produced to its three input topics under a prefix of its own, and what the
    replay of those topics gives on the repartition topic and the second stage's outputs."""
    settings = _isolated(services, name).with_({"risk": day_config()})
    return (settings, *produce_and_replay(settings, day_dir))


def produce_and_replay(settings: Settings, day_dir: Path) -> tuple[tuple[str, ...], dict]:
    """The day's files produced to the input topics of ``settings``; the risk outputs (repartition topic
    first) and what the replay of those topics gives on each."""
    produce_day(settings, day_dir)
    return replay_day(settings)


def produce_day(settings: Settings, day_dir: Path) -> None:
    for topic_name in INPUTS:
        FileProducer(settings, topic_name).produce_file(day_dir / f"{topic_name}.jsonl")


def replay_day(settings: Settings) -> tuple[tuple[str, ...], dict]:
    """The risk outputs (repartition topic first) and what the replay of the input topics gives on each."""
    stages = build_stages("risk", settings)
    outputs = ("risk.inputs.v1", *stages[1].outputs)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(t) for t in INPUTS], None, None, serde)
    sink = _Collector()
    run_replay(iter(reader), stages, serde, sink)
    reader.close()
    return outputs, {t: sink.events.get(t, []) for t in outputs}


@pytest.mark.parametrize("engine", ENGINES)
def test_live_risk_worker_on_a_day_already_in_the_log_matches_replay(
    services: Settings, day_dir: Path, engine: str
) -> None:
    settings = _isolated(services, f"risk-{engine}").with_({"risk": day_config()})
    produce_day(settings, day_dir)
    worker = _start_risk_worker(settings, engine)  # works through the day while this process replays it
    try:
        outputs, expected = replay_day(settings)
        assert len(expected["risk.breakers.v1"]) > 10
        live = _wait_for(settings, expected, timeout_s=600, worker=worker)
    finally:
        _stop(worker)
    assert_same_as_replay(live, expected, outputs)

    # The drawdown episode, computed independently of the processors from the generated files.
    openings = expected_drawdown_openings(day_records(day_dir))
    assert sorted(openings) == sorted(VENUES)
    opened = {}
    for _, schema, r in live["risk.breakers.v1"]:
        if schema == "BreakerTransition" and r["breaker"] == "DRAWDOWN" and r["to_state"] == "OPEN":
            opened.setdefault(r["venue"], r)
    for venue, (event_id, t, _) in openings.items():
        assert (opened[venue]["caused_by"], opened[venue]["event_time"]) == (event_id, t), venue
    # After the opening, an order that would add exposure is rejected with the reducing reason.
    rejected_reducing = [r for _, schema, r in live["risk.order-decisions.v1"]
                         if schema == "OrderRejected" and r["reason"] == "TRADING_REDUCING"]
    assert len(rejected_reducing) > 100
    assert all(r["event_time"] >= opened[r["venue"]]["event_time"] for r in rejected_reducing)

    # The sink materializes the live outputs once each: the transitions table holds exactly the
    # worker's BreakerTransition events, and a second sink run over the same topics adds nothing.
    database = create_database(services, "risk_kafka")
    try:
        db = migrated(isolated(database, kafka__topic_prefix=settings.kafka.topic_prefix, db__timescaledb="off"))
        topics = ["risk.breakers.v1", "risk.trading-state.v1", "risk.order-decisions.v1"]
        # the worker writes transactionally: a partition ends with a commit marker no consumer stores
        ends = data_end_offsets(db, [db.topic(t) for t in topics])
        drain(db, topics, timeout_s=300, ends=ends)
        drain(db.with_({"sink__group": "sink-again"}), topics, timeout_s=300, ends=ends)
        rows = query(db, "SELECT event_id, breaker, to_state, caused_by FROM risk_breaker_transitions")
        want = {(r["event_id"], r["breaker"], r["to_state"], r["caused_by"])
                for _, schema, r in live["risk.breakers.v1"] if schema == "BreakerTransition"}
        assert len(rows) == len(want)
        assert {tuple(r) for r in rows} == want
        drawdown_open = query(db, "SELECT venue, caused_by FROM risk_breaker_transitions WHERE breaker = 'DRAWDOWN'"
                                  " AND to_state = 'OPEN' ORDER BY event_time, venue")
        assert {r["venue"]: r["caused_by"] for r in reversed(drawdown_open)} == {
            v: e for v, (e, _, _) in openings.items()}
    finally:
        drop_database(database)


def assert_same_as_replay(live: dict[str, list], expected: dict[str, list], outputs: tuple[str, ...],
                          context: str = "") -> None:
    """The risk stage's outputs equal the replay's per key, in order, with no id twice; the repartition topic
    holds the same events, once each. Its order per key in the log depends on which worker wrote which
    source partition and when — by design: the risk stage reads it in position order, not log order
    (docs/architecture.md, "Scale-out")."""
    repartition = "risk.inputs.v1"
    _assert_same_as_replay(live, expected, [t for t in outputs if t != repartition], context)
    got = sorted(rec["event_id"] for _, _, rec in live[repartition])
    assert got == sorted(rec["event_id"] for _, _, rec in expected[repartition]), f"{context}{repartition} differs"
    assert len(got) == len(set(got)), f"{context}duplicates in {repartition}"


def _committed_fraction(settings: Settings, consumer: Consumer, ends: dict[tuple[str, int], int]) -> float:
    """How much of the inputs the worker's group has committed."""
    tps = [TopicPartition(t, p) for t, p in ends]
    done = sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
    return done / sum(ends.values())


def test_kill_9_of_the_risk_worker_resumes_exactly(services: Settings, day_dir: Path) -> None:
    """Two stages in one worker: the first forwards each input partition on its own, stamping positions and
    writing progress markers; the second holds the repartitioned records (in its state changelog) and
    processes them in position order. The worker (committing every 50 ms) is SIGKILLed once each time it
    has committed a quarter, half and three quarters of the inputs, and restarted. Its final outputs must
    equal the replay's (same ids, order per key) and the repartition topic hold the same events, once each.

    The native engine only: the faust engine fails this test (the repartition topic's order per venue
    differs from the replay's after the kills; known defect, see README) and needs ~15 minutes for it,
    each restart waiting for faust's group session to time out."""
    engine = "native"
    settings, outputs, expected = _day_and_its_replay(services, day_dir, f"risk-kill9-{engine}")

    ends = end_offsets(settings, [settings.topic(t) for t in INPUTS])
    group = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-risk"))  # offsets only
    env = {"MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    worker = _start_risk_worker(settings, engine, env)
    kills = []
    try:
        for threshold in (0.25, 0.5, 0.75):
            deadline = time.monotonic() + 300
            while (done := _committed_fraction(settings, group, ends)) < threshold:
                assert worker.poll() is None, f"the worker exited with {worker.returncode}"
                assert time.monotonic() < deadline, f"the worker committed only {done:.0%} of the inputs"
                time.sleep(0.02)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            kills.append(done)
            worker = _start_risk_worker(settings, engine, env)
        live = _wait_for(settings, expected, timeout_s=600, worker=worker)
    finally:
        _stop(worker)
        group.close()
    assert all(done < 1 for done in kills), f"a kill came after the worker had finished: {kills}"
    assert_same_as_replay(live, expected, outputs)
