"""``mercado venue ccxt`` as a child process, through the real broker, against the loopback Binance.

Approved orders go in on ``risk.order-decisions.v1``; the adapter is killed (-9) while the exchange has taken an
order but not answered yet, and a second process takes over: every order is placed once at the exchange, every
lifecycle record is on ``trading.orders.v1`` once, and SIGTERM with ``--cancel-on-shutdown`` cancels what is open.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from processors import topics
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.execution.orders import venue_client_order_id
from streams.feeds.loopback import FakeBinance
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import committed_reader_config, producer_config
from streams.kafka.consumer import EventConsumer

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def _approval(coid: str, t: int, quantity: str = "0.5", price: str = "100") -> dict[str, Any]:
    return {"event_id": f"risk:{coid}", "event_time": t, "account": "mm-1", "venue": "binance", "symbol": "BTC/USDT",
            "client_order_id": coid, "side": "BUY", "quantity": Decimal(quantity), "price": Decimal(price),
            "reference_price": Decimal(price), "notional": Decimal(quantity) * Decimal(price),
            "trading_state": "ACTIVE", "caused_by": coid}


def _decide(settings: Settings, *records: dict[str, Any]) -> None:
    serde = AvroSerde()
    producer = Producer(producer_config(settings))
    for record in records:
        producer.produce(settings.topic(topics.DECISIONS), serde.encode("OrderApproved", record),
                         "binance:BTC/USDT", timestamp=record["event_time"] // 1000)
    assert producer.flush(10) == 0


def _start(settings: Settings, url: str, *more: str) -> subprocess.Popen:
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MERCADO_VENUE_BINANCE_API_KEY": "test-key", "MERCADO_VENUE_BINANCE_SECRET": "test-secret",
           "MERCADO_FEEDS__POLL_INTERVAL_S": "0.1", "MERCADO_FEEDS__REQUEST_TIMEOUT_S": "1",
           "MERCADO_FEEDS__COMMIT_INTERVAL_MS": "20", "MERCADO_FEEDS__BACKOFF_INITIAL_S": "0.05",
           "MERCADO_FEEDS__BACKOFF_MAX_S": "0.2"}
    log = ROOT / ".mercado" / "venue-test.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as err:
        return subprocess.Popen([sys.executable, "-m", "streams.commands.cli", "venue", "ccxt", "--exchange", "binance",
                                 "--api-url", url + "/api/v3", "--from-beginning", *more], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)


def _records(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    # to the end of every partition; the idle timeout (the default 10 s, not 2 s, which a loaded broker's first
    # fetch can outlast, returning a part of the records) only ends a read whose end never comes
    with EventConsumer(settings, [settings.topic(topics.ORDERS)]) as consumer:
        return [(e.schema.fullname.rpartition(".")[2], e.record) for e in consumer.iterate()]


async def _until(condition: Any, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the venue process exited ({process.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def _kinds(settings: Settings) -> Counter[tuple[str, str]]:
    return Counter((kind, r["client_order_id"]) for kind, r in _records(settings))


async def test_orders_once_through_a_kill_mid_order_and_cancel_on_shutdown(services: Settings) -> None:
    settings = services.with_(kafka__topic_prefix=f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.venue.")
    ensure_topics(settings)
    server = FakeBinance()
    url = await server.start()
    now = time.time_ns() // 1000
    coid = {c: venue_client_order_id("mm-1", c) for c in ("A", "B", "C")}
    first = second = None
    try:
        _decide(settings, _approval("A", now), _approval("B", now + 1))
        first = _start(settings, url)
        await _until(lambda: len(server.orders) == 2, 60, "orders A and B", first)
        server.fill(coid["A"], 0.2, 99.5)
        await _until(lambda: _kinds(settings)[("OrderFilled", "A")] == 1, 30, "A's first fill", first)
        # C is taken by the exchange, whose answer never comes before the process dies
        server.stall_s = 60.0
        server.order_faults.append("stall")
        _decide(settings, _approval("C", now + 2))
        await _until(lambda: len(server.orders) == 3, 30, "order C", first)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        server.fill(coid["A"], 0.3, 99.6)  # A fills completely, C partly, while no adapter runs
        server.fill(coid["C"], 0.1, 100.0)

        second = _start(settings, url, "--cancel-on-shutdown")
        await _until(lambda: (kinds := _kinds(settings))[("OrderFilled", "C")] == 1
                     and kinds[("OrderFilled", "A")] == 2, 60, "the fills after the restart", second)
        os.killpg(second.pid, signal.SIGTERM)  # the server answers its cancellations meanwhile: wait without blocking
        assert await asyncio.get_running_loop().run_in_executor(None, second.wait, 30) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        await server.stop()

    # each order placed once; the restarted adapter found C by its client order id
    assert [r for r in server.requests if r.startswith("POST")] == [f"POST /api/v3/order {coid[c]}" for c in "ABC"]
    assert f"GET /api/v3/order {coid['C']}" in server.requests
    assert [o["status"] for o in server.orders] == ["FILLED", "CANCELED", "CANCELED"]  # B and C on shutdown
    records = _records(settings)
    ids = [r["event_id"] for _, r in records]
    assert len(ids) == len(set(ids))  # nothing twice
    assert Counter((kind, r["client_order_id"]) for kind, r in records) == Counter({
        ("OrderAccepted", "A"): 1, ("OrderAccepted", "B"): 1, ("OrderAccepted", "C"): 1,
        ("OrderFilled", "A"): 2, ("OrderFilled", "C"): 1,
        ("OrderCanceled", "B"): 1, ("OrderCanceled", "C"): 1})
    fills_a = sorted(r["fill_quantity"] for kind, r in records if kind == "OrderFilled" and r["client_order_id"] == "A")
    assert fills_a == [Decimal("0.2"), Decimal("0.3")]
    canceled = [r for kind, r in records if kind == "OrderCanceled"]
    assert {r["reason"] for r in canceled} == {"shutdown"}
    # the decisions were consumed in the records' transactions: the group is at their end
    name = settings.topic(topics.DECISIONS)
    reader = Consumer(committed_reader_config(settings, f"{settings.kafka.topic_prefix}mercado-venue-binance"))
    try:
        parts = reader.list_topics(name, timeout=10).topics[name].partitions
        committed = reader.committed([TopicPartition(name, p) for p in parts], timeout=10)
        ends = {p: reader.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in parts}
    finally:
        reader.close()
    assert sum(max(tp.offset, 0) for tp in committed) == sum(ends.values()) == 3
