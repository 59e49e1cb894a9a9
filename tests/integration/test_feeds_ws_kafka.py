"""The ccxt.pro WebSocket feed (``mercado feed ccxt --transport ws``) against a local server speaking Binance's
stream formats (``aggTrade``, spot ``bookTicker``), through the real broker: repeated and out-of-order trades,
a repeated book update, a malformed frame and an unreadable trade, a disconnect mid-message, a silent stall —
every trade and every book update written once, nothing lost, the faults as VenueHealth events and dead letters,
the process alive."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from processors import topics
from streams.config import Settings
from streams.feeds.ccxt_ws import CcxtWsFeed
from streams.feeds.loopback import FakeBinance
from streams.feeds.runner import FeedRunner
from streams.feeds.writer import FeedWriter
from tests.integration.test_feeds_kafka import _settings, _until, read_dead_letters, read_events

pytestmark = pytest.mark.kafka
TRADES = "btcusdt@aggTrade"


async def test_ccxt_pro_trades_and_top_of_book_once_through_faults(services: Settings) -> None:
    settings = _settings(services, "feed-ws")
    server = FakeBinance()
    url = await server.start()
    writer = FeedWriter(settings, "t-binance-ws")
    feed = CcxtWsFeed("binance", ["BTC/USDT"], api_url=url + "/api/v3", ws_url=url.replace("http", "ws") + "/ws",
                      timeout_s=0.8, feed_id=writer.feed_id)
    runner = FeedRunner(feed, writer, settings)
    task = asyncio.create_task(runner.run())
    t0 = int(time.time() * 1000) - 60_000
    trade_ids = feed.dedup._ids
    book_ids = feed.book_dedup._ids

    def have(ids: dict[str, set[str]], wanted: list[str]) -> bool:
        return set(wanted) <= ids.get("BTC/USDT", set())

    async def subscribed(connections: int) -> None:  # both streams (trades, book) subscribed on a new connection
        await _until(lambda: server.ws_connections >= connections
                     and sum(bool(s) for _, s in server.ws_sockets) == 2 or task.done(), 20, "the subscriptions")
        assert not task.done(), task.exception()

    try:
        await subscribed(2)
        # repeats (1-5 twice), out of order (10 before 9), an unreadable trade, a repeated book update
        for i in [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 9, *range(11, 21)]:
            await server.ws_trade(i, t0 + i * 10, price=100 + i)
        await server.ws_raw('{"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 9', TRADES)  # malformed
        await server.ws_raw('{"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 999, "p": "0", "q": "1", "T": 5}', TRADES)
        for u in [1, 2, 3, 3, 4]:
            await server.ws_book(u, 99.0 + u / 10, 101.0 - u / 10)
        await _until(lambda: have(trade_ids, [str(i) for i in range(1, 21)]) and have(book_ids, ["b4"])
                     or task.done(), 15, "the first trades")
        # a disconnect mid-message; 21-25 happen while the feed is away (the venue's REST pages have them, its
        # stream will not send them again); after the reconnect the stream sends 15-20 again, then 26-30
        missed = server.add_trades(21, [t0 + i * 10 for i in range(21, 26)])
        connections = server.ws_connections
        server.ws_cut()
        await subscribed(connections + 2)
        for i in [*range(15, 21), *range(26, 31)]:
            await server.ws_trade(i, t0 + i * 10, price=100 + i)
        for u in [4, 5, 6]:
            await server.ws_book(u, 99.0 + u / 10, 101.0 - u / 10)
        await _until(lambda: have(trade_ids, [str(i) for i in range(1, 31)]) and have(book_ids, ["b6"])
                     or task.done(), 15, "the trades after the reconnect")
        # a silent stall: connected, nothing sent for longer than stale_after_s (1 s) → stale, reconnect
        connections = server.ws_connections
        await _until(lambda: runner.reconnects.get("stale", 0) >= 1 or task.done(), 15, "the stale stream")
        await subscribed(connections + 2)
        for i in range(31, 41):
            await server.ws_trade(i, t0 + i * 10, price=100 + i)
        await server.ws_book(7, 99.7, 100.3)
        await _until(lambda: have(trade_ids, [str(i) for i in range(1, 41)]) and have(book_ids, ["b7"])
                     or task.done(), 15, "the trades after the stall")
        await _until(lambda: writer.committed.get("PriceTick", 0) >= 47 or task.done(), 10, "the commits")
        assert not task.done(), task.exception()  # alive through every fault
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 15)
        await server.stop()

    ticks = read_events(settings, topics.TICKS)
    by_type = Counter(e.schema.fullname.rsplit(".", 1)[-1] for e in ticks)
    prices = [e.record for e in ticks if e.schema.fullname.endswith("PriceTick")]
    ids = [r["event_id"] for r in prices]
    assert len(ids) == len(set(ids))  # nothing twice: not the venue's repeats, not across the reconnects
    assert set(ids) == ({f"binance:BTC/USDT:{i}" for i in range(1, 41)}
                        | {f"binance:BTC/USDT:b{u}" for u in range(1, 8)})  # nothing lost
    trade = next(r for r in prices if r["event_id"] == "binance:BTC/USDT:9")
    assert (trade["event_time"], trade["last"], trade["volume"], trade["sequence"]) == (
        (t0 + 90) * 1000, 109.0, 0.5, 9)
    assert trade["bid"] is None and trade["ask"] is None
    filled = next(r for r in prices if r["event_id"] == "binance:BTC/USDT:22")  # through the REST fill
    assert (filled["event_time"], filled["last"]) == (missed[1]["T"] * 1000, float(missed[1]["p"]))
    assert feed.filled == 5
    book = next(r for r in prices if r["event_id"] == "binance:BTC/USDT:b2")
    assert (book["bid"], book["ask"], book["last"], book["volume"], book["sequence"]) == (99.2, 100.8, None, 0.0, 2)
    assert by_type["Heartbeat"] >= 1  # the quiet stall
    health = [e.record for e in read_events(settings, topics.VENUE_HEALTH)]
    assert any(h["probe"] == "stale" and not h["ok"] for h in health)
    assert any(h["probe"] == "connection" and not h["ok"] for h in health)  # the cut
    assert any(h["probe"] == "ping" and h["ok"] and h["latency_ms"] > 0 for h in health)
    reasons = Counter(d["mercado.dlq.reason"] for d in read_dead_letters(settings))
    assert reasons == Counter({"malformed-frame": 1, "malformed-trade": 1}), reasons


async def test_mercado_feed_ccxt_picks_the_websocket_transport_and_stops_cleanly(services: Settings) -> None:
    import os
    import signal
    import sys

    settings = _settings(services, "feed-ws-cli")
    server = FakeBinance()
    url = await server.start()
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix, "MERCADO_METRICS__PORT_FEED": "0"}
    process = await asyncio.create_subprocess_exec(  # --transport auto: ws, since --ws-url is given
        sys.executable, "-m", "streams.commands.cli", "feed", "ccxt", "binance", "-s", "BTC/USDT", "--no-book",
        "--api-url", url + "/api/v3", "--ws-url", url.replace("http", "ws") + "/ws", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    t0 = int(time.time() * 1000) - 10_000
    try:
        await _until(lambda: any(TRADES in s for _, s in server.ws_sockets) or process.returncode is not None, 60,
                     "the subscription")
        for i in [1, 2, 2, 3]:
            await server.ws_trade(i, t0 + i)
        # the trades written before the stop (a fixed 0.5 s can be too short for the process to read them on a
        # loaded machine); what was written, exactly, is checked once the process is gone, below
        sent = {f"binance:BTC/USDT:{i}" for i in (1, 2, 3)}
        await _until(lambda: sent <= set(_tick_ids(settings)) or process.returncode is not None, 60,
                     "the trades in the topic")
        assert process.returncode is None, "the feed exited before writing the trades"
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
        await server.stop()
    assert code == 0, (await process.stderr.read()).decode()[-2000:]
    assert not any("aggTrades" in r for r in server.requests)  # no REST polling
    assert sorted(_tick_ids(settings)) == ["binance:BTC/USDT:1", "binance:BTC/USDT:2", "binance:BTC/USDT:3"]


def _tick_ids(settings: Settings) -> list[str]:
    ticks = read_events(settings, topics.TICKS)
    return [e.record["event_id"] for e in ticks if e.schema.fullname.endswith("PriceTick")]
