"""The paper venue through the real broker, in the closed loop: OrderSubmitted and ticks produced to the input
topics; the risk worker decides (risk.order-decisions.v1); the paper-venue worker fills the approved orders
against the ticks and writes the lifecycle to trading.orders.v1; the risk worker books those fills
(risk.positions.v1). The paper worker's events equal the replay of its pipeline over the same topics (on the
native engine and on faust), the positions are the fills' exact sums, and the sink stores the paper venue's
fills and rejections (trading_fills, trading_rejections)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer

from processors import topics
from processors.risk import RiskConfig
from processors.risk.config import AccountVenueConfig
from processors.venue import PaperVenueConfig
from streams.config import Settings
from streams.engines.live import group_id
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.producer import TYPE_COLUMN, FileProducer
from streams.kafka.clients import committed_reader_config
from streams.kafka.consumer import data_end_offsets, default_serde, end_offsets
from streams.runtime.pipelines import build_stages
from tests.integration.test_marketdata_live import (
    ENGINES,
    _assert_same_as_replay,
    _Collector,
    _isolated,
    _read_outputs,
    _stop,
)
from tests.integration.test_risk_kafka import _committed_fraction
from tests.support.risk_events import MS, T0, Event, S, submitted, tick
from tests.support.sink import create_database, drain, drop_database, isolated, migrated, query
from tests.support.workers import start_worker

pytestmark = [pytest.mark.kafka]

D = Decimal
BTC, ETH, SOL = "BTC/USDT", "ETH/USDT", "SOL/USDT"
RISK = RiskConfig(accounts={"mm-1": {"binance": AccountVenueConfig(
    balances={"USDT": D(1_000_000), "BTC": D(10), "ETH": D(100)})}}, mark_update_s=3600)
PAPER = PaperVenueConfig(latency_ms=50, max_fill_quantity=D("0.25"), time_in_force_s=120,
                         markets={"binance": (BTC, ETH)})


def btc_book(i: int) -> tuple[float, float]:
    """BTC's top of book at tick i (every 0.5 s): 50000/50001, then lower from 60 s, higher from 90 s."""
    if i < 120:
        return 50_000.0, 50_001.0
    return (49_990.0, 49_991.0) if i < 180 else (50_010.0, 50_011.0)


def scenario(seconds: int = 150) -> list[Event]:
    events: list[Event] = []
    for i in range(seconds * 2):
        t = T0 + i * 500 * MS
        events.append(tick(t, *btc_book(i), symbol=BTC, event_id=f"binance:{BTC}:{i}"))
        events.append(tick(t + MS, 3000.0, 3000.5, symbol=ETH, event_id=f"binance:{ETH}:{i}"))
        events.append(tick(t + 2 * MS, 100.0, 100.01, symbol=SOL, event_id=f"binance:{SOL}:{i}"))
    events += [
        submitted(T0 + 2 * S, "b1", "BUY", "0.3", order_type="MARKET", symbol=BTC),  # taker at 50001
        submitted(T0 + 3 * S, "e1", "BUY", "2", order_type="MARKET", symbol=ETH),  # taker at 3000.5
        submitted(T0 + 5 * S, "b2", "BUY", "0.2", "49995", symbol=BTC),  # rests; maker at 49995 from 60 s
        submitted(T0 + 6 * S, "b3", "SELL", "0.1", "50005", symbol=BTC),  # rests; maker at 50005 from 90 s
        submitted(T0 + 7 * S, "e2", "SELL", "0.5", "2990", symbol=ETH),  # marketable: taker at the bid 3000
        submitted(T0 + 8 * S, "e3", "BUY", "1", "2950", symbol=ETH),  # never crossed: expires at 128.05 s
        submitted(T0 + 9 * S, "s1", "BUY", "1", order_type="MARKET", symbol=SOL),  # not listed on the paper venue
        submitted(T0 + 10 * S, "big", "BUY", "10", order_type="MARKET", symbol=BTC),  # MAX_NOTIONAL (risk)
    ]
    return sorted(events, key=lambda e: e[1]["event_time"])


def produce(settings: Settings, events: list[Event], tmp: Path) -> None:
    by_topic: dict[str, list[dict[str, Any]]] = {topics.TICKS: [], topics.ORDERS: []}
    for schema, record in events:
        by_topic[topics.TICKS if schema == "PriceTick" else topics.ORDERS].append({TYPE_COLUMN: schema, **record})
    for topic, rows in by_topic.items():
        path = tmp / f"{topic}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r, default=str) + b"\n" for r in rows))
        FileProducer(settings, topic).produce_file(path)


def replay_paper(settings: Settings) -> dict[str, list]:
    stages = build_stages("venue-paper", settings)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(t) for t in stages[0].inputs], None, None, serde)
    sink = _Collector()
    run_replay(iter(reader), stages, serde, sink)
    reader.close()
    return {t: sink.events.get(t, []) for t in (topics.ORDERS, topics.PAPER_INPUTS)}


def paper_events(settings: Settings) -> dict[str, list]:
    got = _read_outputs(settings, (topics.ORDERS, topics.PAPER_INPUTS))
    got[topics.ORDERS] = [e for e in got[topics.ORDERS] if e[2]["event_id"].startswith("paper:")]
    return got


def wait_until(what: str, check: Any, timeout_s: float, *workers: Any) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        for w in workers:
            assert w.poll() is None, f"a worker exited with {w.returncode}; see .mercado/worker-test.log"
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def assert_paper_as_replayed(live: dict[str, list], expected: dict[str, list]) -> None:
    _assert_same_as_replay(live, expected, [topics.ORDERS])
    ids = sorted(r["event_id"] for _, _, r in live[topics.PAPER_INPUTS])
    assert ids == sorted(r["event_id"] for _, _, r in expected[topics.PAPER_INPUTS])
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def database(services: Settings) -> Any:
    settings = create_database(services, "paper_sink")
    yield settings
    drop_database(settings)


@pytest.mark.postgres
def test_the_closed_loop_orders_risk_gate_paper_venue_fills_positions(services: Settings, database: Settings,
                                                                      tmp_path: Path) -> None:
    settings = _isolated(services, "paper-loop").with_({"risk": RISK, "paper": PAPER})
    produce(settings, scenario(), tmp_path)
    risk = start_worker(settings, "risk")
    paper = None
    try:
        decisions = wait_until("the risk gate's 8 decisions",
                               lambda: (d := _read_outputs(settings, (topics.DECISIONS,))[topics.DECISIONS])
                               and len(d) >= 8 and d, 120, risk)
        assert sorted((r["client_order_id"], s) for _, s, r in decisions) == [
            ("b1", "OrderApproved"), ("b2", "OrderApproved"), ("b3", "OrderApproved"), ("big", "OrderRejected"),
            ("e1", "OrderApproved"), ("e2", "OrderApproved"), ("e3", "OrderApproved"), ("s1", "OrderApproved")]
        # the decisions are in the log: the paper venue's replay is what its live worker must write
        expected = replay_paper(settings)
        paper = start_worker(settings, "venue-paper")
        # both outputs, as the other tests here: the inputs forwarded after the last lifecycle event's (ticks
        # past the expiry) can be committed after it
        n, m = len(expected[topics.ORDERS]), len(expected[topics.PAPER_INPUTS])
        live = wait_until(f"the paper venue's {n} lifecycle events and {m} inputs", lambda: (
            p := paper_events(settings)) and len(p[topics.ORDERS]) >= n and len(p[topics.PAPER_INPUTS]) >= m and p,
            120, risk, paper)
        assert_paper_as_replayed(live, expected)

        lifecycle = [(s, r["client_order_id"], r.get("reason"), r.get("fill_quantity"), r.get("fill_price"),
                      r.get("liquidity")) for _, s, r in live[topics.ORDERS] if s != "OrderAccepted"]
        fills: dict[str, list[tuple[str, str, str]]] = {}
        for s, coid, _, q, p, liq in lifecycle:
            if s == "OrderFilled":
                fills.setdefault(coid, []).append((f"{D(q).normalize():f}", f"{D(p).normalize():f}", liq))
        assert fills == {
            "b1": [("0.25", "50001", "TAKER"), ("0.05", "50001", "TAKER")],
            "e1": [("0.25", "3000.5", "TAKER")] * 8,
            "b2": [("0.2", "49995", "MAKER")],
            "b3": [("0.1", "50005", "MAKER")],
            "e2": [("0.25", "3000", "TAKER")] * 2,
        }
        assert sorted((s, coid, reason) for s, coid, reason, *_ in lifecycle if s != "OrderFilled") == [
            ("OrderCanceled", "e3", "EXPIRED"), ("OrderRejected", "s1", "UNKNOWN_SYMBOL")]
        expiry = next(r for _, s, r in live[topics.ORDERS] if s == "OrderCanceled")
        assert expiry["event_time"] == T0 + 8 * S + 50 * MS + 120 * S

        # the risk pipeline booked every fill: the last FILL update per symbol holds the exact sums
        n_fills = sum(len(v) for v in fills.values())

        def booked() -> dict[str, tuple[str, str]] | None:
            updates = [r for _, s, r in _read_outputs(settings, (topics.POSITIONS,))[topics.POSITIONS]
                       if r["reason"] == "FILL"]
            if len(updates) < n_fills:
                return None
            return {r["symbol"]: (f"{D(r['quantity']).normalize():f}", f"{D(r['fees']):f}") for r in updates}

        positions = wait_until(f"{n_fills} FILL position updates", booked, 120, risk, paper)
        # BTC: +0.3 +0.2 -0.1; fees 0.3 x 50001 x 5 bps + 0.2 x 49995 x 1 bp + 0.1 x 50005 x 1 bp
        #                          = 7.50015 + 0.9999 + 0.50005
        # ETH: +2 -0.5; fees 2 x 3000.5 x 5 bps + 0.5 x 3000 x 5 bps = 3.0005 + 0.75
        assert positions == {BTC: ("0.4", "9.000100000000"), ETH: ("1.5", "3.750500000000")}
        states = _read_outputs(settings, (topics.TRADING_STATE,))[topics.TRADING_STATE]
        assert states == []  # the loop ran ACTIVE throughout: no breaker tripped
    finally:
        _stop(risk)
        if paper is not None:
            _stop(paper)
    assert_sunk(settings, database, live[topics.ORDERS])


def assert_sunk(settings: Settings, database: Settings, lifecycle: list[tuple[str, str, dict]]) -> None:
    """The sink (its default mapping) reads trading.orders.v1 as the paper worker wrote it: one trading_fills
    row per paper fill, with its price, quantity, fee and liquidity; the venue's rejection in trading_rejections."""
    sink = migrated(isolated(database, db__timescaledb="off", kafka__topic_prefix=settings.kafka.topic_prefix))
    drain(sink, [topics.ORDERS], ends=data_end_offsets(sink, [sink.topic(topics.ORDERS)]))
    fills = {r["event_id"]: r for _, s, r in lifecycle if s == "OrderFilled"}
    rows = query(sink, "SELECT event_id, event_time, client_order_id, venue_order_id, trade_id, side, fill_price, "
                       "fill_quantity, fee, fee_currency, liquidity FROM trading_fills WHERE event_id LIKE 'paper:%'")
    assert len(rows) == len(fills) == 14
    for row in rows:
        want = fills[row["event_id"]]
        assert row["event_time"] == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            microseconds=want["event_time"])
        assert (row["client_order_id"], row["venue_order_id"], row["trade_id"], row["side"], row["fee_currency"],
                row["liquidity"]) == (want["client_order_id"], want["venue_order_id"], want["trade_id"], want["side"],
                                      "USDT", want["liquidity"])
        assert (D(row["fill_price"]), D(row["fill_quantity"]), D(row["fee"])) == (
            D(want["fill_price"]), D(want["fill_quantity"]), D(want["fee"]))
    rejected = query(sink, "SELECT client_order_id, rejected_by, reason FROM trading_rejections "
                           "WHERE event_id LIKE 'paper:%'")
    assert [tuple(r) for r in rejected] == [("s1", "VENUE", "UNKNOWN_SYMBOL")]


@pytest.mark.parametrize("engine", [e for e in ENGINES if getattr(e, "values", (e,))[0] == "faust"])
def test_the_faust_worker_writes_the_replays_lifecycle(services: Settings, tmp_path: Path, engine: str) -> None:
    """``mercado worker --engine faust --pipeline venue-paper``, one worker, over the risk gate's decisions
    and the ticks already in the log: its lifecycle events and repartition topic equal the replay's."""
    settings = _isolated(services, "paper-faust").with_({"risk": RISK, "paper": PAPER})
    produce(settings, scenario(), tmp_path)
    risk = start_worker(settings, "risk")
    try:
        wait_until("the decisions", lambda: len(_read_outputs(settings, (topics.DECISIONS,))[topics.DECISIONS]) >= 8,
                   120, risk)
    finally:
        _stop(risk)
    expected = replay_paper(settings)
    paper = start_worker(settings, "venue-paper", engine)
    try:
        n, m = len(expected[topics.ORDERS]), len(expected[topics.PAPER_INPUTS])
        live = wait_until(f"the paper venue's {n} lifecycle events", lambda: (p := paper_events(settings)) and len(
            p[topics.ORDERS]) >= n and len(p[topics.PAPER_INPUTS]) >= m and p, 180, paper)
    finally:
        _stop(paper)
    assert n == 22  # 6 accepted, 14 fills, an expiry, a venue rejection
    assert_paper_as_replayed(live, expected)


def test_kill_9_of_the_paper_worker_loses_and_duplicates_nothing(services: Settings, tmp_path: Path) -> None:
    """The decisions and a longer tick stream already in the log; the paper worker (committing every 50 ms) is
    SIGKILLed each time its group has committed a third and two thirds of the inputs, and restarted: its
    events equal the replay's (same ids, same order per key, none twice)."""
    settings = _isolated(services, "paper-kill9").with_({"risk": RISK, "paper": PAPER})
    produce(settings, scenario(seconds=3000), tmp_path)
    risk = start_worker(settings, "risk")
    try:
        wait_until("the decisions", lambda: len(_read_outputs(settings, (topics.DECISIONS,))[topics.DECISIONS]) >= 8,
                   120, risk)
    finally:
        _stop(risk)
    expected = replay_paper(settings)
    inputs = [settings.topic(t) for t in (topics.DECISIONS, topics.TICKS)]
    ends = end_offsets(settings, inputs)
    group = Consumer(committed_reader_config(settings, group_id(settings, "venue-paper")))  # offsets only
    env = {"MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    paper = start_worker(settings, "venue-paper", extra_env=env)
    kills = []
    try:
        for threshold in (1 / 3, 2 / 3):
            deadline = time.monotonic() + 120
            while (done := _committed_fraction(settings, group, ends)) < threshold:
                assert paper.poll() is None, f"the worker exited with {paper.returncode}"
                assert time.monotonic() < deadline, f"the worker committed only {done:.0%} of the inputs"
                time.sleep(0.02)
            os.killpg(paper.pid, signal.SIGKILL)
            paper.wait(10)
            kills.append(done)
            paper = start_worker(settings, "venue-paper", extra_env=env)
        n = len(expected[topics.PAPER_INPUTS])
        live = wait_until("the whole lifecycle", lambda: (p := paper_events(settings)) and len(
            p[topics.PAPER_INPUTS]) >= n and len(p[topics.ORDERS]) >= len(expected[topics.ORDERS]) and p, 120, paper)
    finally:
        _stop(paper)
        group.close()
    assert all(done < 1 for done in kills), f"a kill came after the worker had finished: {kills}"
    assert_paper_as_replayed(live, expected)
