"""Feed adapters against local servers speaking the venues' formats, through the real broker.

Each test runs one adapter (in this process, on its asyncio loop) against a server on 127.0.0.1 that
injects faults — repeated and out-of-order trades, an unreadable trade, HTTP 429, a body cut half-way,
a silent stall, dropped WebSocket connections — and then reads what the feed committed (read_committed):
every trade once, nothing lost, the faults as VenueHealth events and dead letters, the process alive.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from processors import topics
from streams.config import Settings
from streams.feeds.ccxt_feed import CcxtTradesFeed
from streams.feeds.runner import FeedRunner
from streams.feeds.writer import FeedWriter
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import consumer_config
from streams.kafka.consumer import EventConsumer
from tests.support.fake_venues import FakeBinance

pytestmark = pytest.mark.kafka

FAST = {"feeds__poll_interval_s": 0.05, "feeds__stale_after_s": 1.0, "feeds__heartbeat_after_s": 0.3,
        "feeds__probe_interval_s": 0.4, "feeds__backoff_initial_s": 0.05, "feeds__backoff_max_s": 0.2,
        "feeds__request_timeout_s": 0.8, "feeds__commit_interval_ms": 20}


def _settings(services: Settings, name: str) -> Settings:
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.{name}."
    settings = services.with_({"kafka__topic_prefix": prefix, **FAST})
    ensure_topics(settings)
    return settings


def read_events(settings: Settings, name: str) -> list[Any]:
    with EventConsumer(settings, [settings.topic(name)]) as consumer:
        return list(consumer.iterate(idle_timeout=5.0))


def read_dead_letters(settings: Settings) -> list[dict[str, str]]:
    name = settings.topic(topics.DEAD_LETTERS)
    consumer = Consumer(consumer_config(settings, f"t-dlq-{time.time_ns()}"))
    md = consumer.list_topics(name, timeout=10).topics[name]
    consumer.assign([TopicPartition(name, p, 0) for p in md.partitions])
    out, eof, idle = [], set(), time.monotonic()
    while len(eof) < len(md.partitions) and time.monotonic() - idle < 5:
        for msg in consumer.consume(100, 0.5):
            if msg.error():
                eof.add(msg.partition())
                continue
            idle = time.monotonic()
            out.append({k: v.decode() for k, v in msg.headers() or []} | {"value": msg.value().decode()})
    consumer.close()
    return out


async def _until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _run_binance(settings: Settings, url: str, feed_id: str, *, recover: bool,
                       until: Any, timeout: float = 20.0) -> tuple[CcxtTradesFeed, FeedRunner]:
    writer = FeedWriter(settings, feed_id)
    feed = CcxtTradesFeed("binance", ["BTC/USDT"], api_url=url + "/api/v3", poll_interval_s=0.05, timeout_s=0.8,
                          feed_id=feed_id)
    if recover:
        feed.remember(writer.recent_trades(["binance:BTC/USDT"], tail=10_000))
    runner = FeedRunner(feed, writer, settings)
    task = asyncio.create_task(runner.run())
    try:
        await _until(lambda: until(feed, runner) or task.done(), timeout, "the feed")
        assert not task.done(), task.exception()  # the process stays alive through every fault
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 15)
    return feed, runner


async def test_ccxt_binance_trades_once_through_faults_and_a_restart(services: Settings) -> None:
    settings = _settings(services, "feed-ccxt")
    server = FakeBinance()
    url = await server.start()
    now_ms = int(time.time() * 1000)
    first = server.add_trades(1000, [now_ms - 30_000 + i * 100 for i in range(120)])
    server.faults.extend(["dup", "shuffle", "malformed", "429", "cut", "stall"])
    server.stall_s = 2.5  # longer than the request timeout (0.8 s): a timeout, then a reconnect
    try:
        added: list[dict[str, Any]] = []

        def progress(feed: CcxtTradesFeed, runner: FeedRunner) -> bool:
            if not server.faults and not added:  # every fault served: trades keep coming while connected
                added.extend(server.add_trades(2000, [now_ms + i * 10 for i in range(30)]))
            ids = feed.dedup._ids.get("BTC/USDT", set())
            return bool(added) and all(str(t["a"]) in ids for t in added) and runner.writer.commits > 3

        feed, runner = await _run_binance(settings, url, "t-binance", recover=False, until=progress)
        assert feed.dedup.duplicates > 0  # the repeated page and the replays of `since` were dropped
        assert runner.reconnects.get("error", 0) >= 3  # 429, cut body, stall (timeout)
        # restart: the new process reads back what was written, resumes from it, writes nothing twice
        later = server.add_trades(3000, [now_ms + 1000 + i * 10 for i in range(20)])
        await _run_binance(
            settings, url, "t-binance", recover=True,
            until=lambda f, r: all(str(t["a"]) in f.dedup._ids.get("BTC/USDT", set()) for t in later)
            and r.writer.commits > 1)
    finally:
        await server.stop()

    ticks = read_events(settings, topics.TICKS)
    by_type = Counter(e.schema.fullname.rsplit(".", 1)[-1] for e in ticks)
    prices = [e.record for e in ticks if e.schema.fullname.endswith("PriceTick")]
    ids = [r["event_id"] for r in prices]
    expected = {f"binance:BTC/USDT:{t['a']}" for t in first + added + later}
    assert len(ids) == len(set(ids))  # nothing twice, across the faults and the restart
    assert set(ids) == expected  # nothing lost
    sample = next(r for r in prices if r["event_id"] == f"binance:BTC/USDT:{first[5]['a']}")
    assert sample["event_time"] == first[5]["T"] * 1000 and sample["last"] == float(first[5]["p"])
    assert sample["sequence"] == first[5]["a"] and sample["volume"] == 0.5
    assert by_type["Heartbeat"] >= 1  # quiet periods while connected
    health = [e.record for e in read_events(settings, topics.VENUE_HEALTH)]
    failures = [h for h in health if not h["ok"]]
    assert any("429" in (h["error"] or "") or "Too many requests" in (h["error"] or "") for h in failures)
    assert len(failures) >= 3
    assert any(h["probe"] == "ping" and h["ok"] and h["latency_ms"] > 0 for h in health)
    dead = read_dead_letters(settings)
    assert sorted(d["mercado.dlq.reason"] for d in dead) == ["malformed-trade", "malformed-trade"]
    assert any('"abc"' in d["value"] for d in dead)
