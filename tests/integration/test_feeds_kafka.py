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
from streams.feeds.loopback import FakeBinance
from streams.feeds.runner import FeedRunner
from streams.feeds.writer import FeedWriter
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import end_reader_config
from streams.kafka.consumer import EventConsumer, fetch_ready

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
    consumer = Consumer(end_reader_config(settings, f"t-dlq-{time.time_ns()}"))
    md = consumer.list_topics(name, timeout=10).topics[name]
    consumer.assign([TopicPartition(name, p, 0) for p in md.partitions])
    out, eof, idle = [], set(), time.monotonic()
    while len(eof) < len(md.partitions) and time.monotonic() - idle < 5:
        for msg in fetch_ready(consumer, 100, 0.5):
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


async def test_twelvedata_quotes_backfill_the_hole_after_a_disconnect(services: Settings) -> None:
    from processors.marketdata.calendars import CalendarBook
    from streams.feeds.loopback import FakeTwelveData
    from streams.feeds.twelvedata import TwelveDataQuotes

    # BTC/USD on TwelveData trades around the clock here, so the test does not depend on the hour it runs at
    settings = _settings(services, "feed-td").with_(marketdata__venue_calendars={"twelvedata": "crypto"})
    server = FakeTwelveData()
    url = await server.start()
    writer = FeedWriter(settings, "t-twelvedata")
    feed = TwelveDataQuotes(["BTC/USD"], CalendarBook(settings.marketdata), ws_url=url.replace("http", "ws")
                            + "/v1/quotes/price", rest_url=url, heartbeat_every_s=0.3, feed_id="t-twelvedata",
                            key="test-key")
    feed.retry_s = 0.1
    runner = FeedRunner(feed, writer, settings)
    task = asyncio.create_task(runner.run())
    minute = int(time.time()) // 60 * 60 - 240  # four minutes ago, on a minute boundary
    pushed: list[tuple[int, float]] = []
    try:
        await asyncio.wait_for(server.subscribed.wait(), 10)
        assert server.requests[0].endswith("apikey=test-key")
        for i in range(5):  # live quotes in the first minute
            pushed.append((minute + i * 10, 60_000.0 + i))
            assert await server.push("BTC/USD", *pushed[-1]) == 1
        await server.push("BTC/USD", *pushed[2])  # the same quote again: dropped
        for raw in ("not json{", '{"event": "price", "symbol": "BTC/USD", "timestamp": "x", "price": 1}',
                    '{"event": "mystery"}'):
            await server.push("BTC/USD", 0, 0, raw=raw)
        await _until(lambda: writer.written >= 5, 10, "the live quotes")
        # a disconnect in the middle of a frame; meanwhile minutes 1 and 2 happen without the feed
        server.bars["BTC/USD"] = [(minute + 60, 60_100.0), (minute + 120, 60_200.0), (minute + 180, 60_300.0)]
        server.faults.append("429")  # the first backfill request is refused
        server.cut_mid_message()
        await _until(lambda: runner.connections >= 2 and server.subscribed.is_set(), 10, "the reconnect")
        pushed.append((minute + 185, 60_400.0))  # first quote after the reconnect: the hole is [m+60, m+180)
        await server.push("BTC/USD", *pushed[-1])
        await _until(lambda: feed.backfills, 10, "the backfill")
        # a silent stall: nothing answered; the stale detector reconnects
        server.mute = True
        await _until(lambda: runner.reconnects.get("stale", 0) >= 1, 10, "the stale detector")
        server.mute = False
        await _until(lambda: runner.connections >= 3 and server.subscribed.is_set(), 10, "the second reconnect")
        pushed.append((minute + 190, 60_500.0))
        assert await server.push("BTC/USD", *pushed[-1]) == 1
        await _until(lambda: feed.last_live_us["BTC/USD"] == pushed[-1][0] * 1_000_000, 10, "the last quote")
        commits = writer.commits
        await _until(lambda: writer.commits > commits + 1, 10, "its commit")
        assert not task.done()
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 15)
        await server.stop()

    ticks = [e.record | {"_type": e.schema.fullname.rsplit(".", 1)[-1]} for e in read_events(settings, topics.TICKS)]
    live = [r for r in ticks if r["_type"] == "PriceTick" and r["backfill_id"] is None]
    assert sorted((r["event_time"] // 1_000_000, r["last"]) for r in live) == sorted(pushed)  # each once
    assert live[0]["bid"] == pushed[0][1] - 0.5 and live[0]["venue"] == "twelvedata"
    start, end = (minute + 60) * 1_000_000, (minute + 180) * 1_000_000
    assert feed.backfills == [("BTC/USD", start, end, 2)]
    replacement = [r for r in ticks if r["_type"] == "PriceTick" and r["backfill_id"]]
    assert [(r["event_time"], r["last"]) for r in replacement] == [
        (start + 60_000_000 - 1, 60_100.0), (start + 120_000_000 - 1, 60_200.0)]
    markers = [r for r in ticks if r["_type"] == "BackfillComplete"]
    assert [(m["start"], m["end"], m["tick_count"], m["backfill_id"]) for m in markers] == [
        (start, end, 2, replacement[0]["backfill_id"])]
    health = [e.record for e in read_events(settings, topics.VENUE_HEALTH)]
    assert any(h["probe"] == "backfill" and not h["ok"] and "429" in h["error"] for h in health)
    assert any(h["probe"] == "stale" and not h["ok"] for h in health)
    assert any(h["probe"] == "connection" and not h["ok"] for h in health)  # the cut frame
    assert any(h["probe"] == "ping" and h["ok"] for h in health)
    dead = read_dead_letters(settings)
    errors = sorted(d["mercado.dlq.error"] for d in dead)
    assert len(errors) == 3 and errors[0] == "no timestamp" and errors[1].startswith("not JSON")
    assert errors[2] == "unknown event 'mystery'" and {d["mercado.dlq.reason"] for d in dead} == {"malformed-frame"}


async def test_mercado_feed_process_stops_cleanly_on_sigterm(services: Settings) -> None:
    import os
    import signal
    import sys

    settings = _settings(services, "feed-cli")
    server = FakeBinance()
    url = await server.start()
    now_ms = int(time.time() * 1000)
    trades = server.add_trades(500, [now_ms - 5_000 + i * 50 for i in range(40)])
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MERCADO_FEEDS__POLL_INTERVAL_S": "0.1", "MERCADO_METRICS__PORT_FEED": "0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.commands.cli", "feed", "ccxt", "binance", "-s", "BTC/USDT",
        "--api-url", url + "/api/v3", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await _until(lambda: sum("aggTrades" in r for r in server.requests) >= 3, 30, "the feed's polls")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
        await server.stop()
    assert code == 0, (await process.stderr.read()).decode()[-2000:]
    ids = [e.record["event_id"] for e in read_events(settings, topics.TICKS) if e.schema.fullname.endswith("PriceTick")]
    assert sorted(ids) == sorted(f"binance:BTC/USDT:{t['a']}" for t in trades)


def test_the_demo_feed_writes_every_trade_its_local_server_served_once(
        services: Settings, capfd: pytest.CaptureFixture[str]) -> None:
    """The demo's live-feed step (streams/feeds/loopback.py LoopbackFeed): a ccxt feed in a thread of its own
    against the loopback Binance, trades arriving while it runs, a repeated page, a 429 and a cut body. Quiet, as
    the demo runs it: the feed's warnings about the injected faults are counted, not printed."""
    from streams.feeds.loopback import LoopbackFeed

    settings = _settings(services, "feed-demo")
    feed = LoopbackFeed(settings, 6.0, rate=40.0, quiet=True)
    feed.start()
    report = feed.join()
    printed = capfd.readouterr()
    assert "feed stream failed" not in printed.out + printed.err
    assert report.injected == ["dup", "429", "cut"]
    assert report.logged["feed stream failed"] == report.reconnects["error"]
    assert report.logged["feed reconnecting"] == sum(report.reconnects.values())
    assert report.served > 6 * 40  # the recorded five seconds and what arrived while it ran
    assert report.ticks == report.distinct == report.served and report.missing == 0
    assert report.duplicates_dropped > 0  # the repeated page (and the inclusive `since` of each poll)
    assert len(report.failures) >= 2 and any("429" in f for f in report.failures)
    assert report.reconnects.get("error", 0) >= 2
    assert report.first is not None and report.first["event_id"] == "binance:BTC/USDT:1"
    assert report.last is not None and report.last["event_id"] == f"binance:BTC/USDT:{report.served}"
