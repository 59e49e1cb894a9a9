"""``python -m bench.feeds``: trades/s one feed adapter sustains from a local server, and frame → visible p99.

A local server speaking Binance's REST format (streams/feeds/loopback.py; in a child process unless
``--no-server-process``) holds ``--trades`` aggregate trades (1 ms apart, ending now). Candidate: the
``mercado feed ccxt binance`` adapter in this process (ccxt's async client polling ``fetch_trades`` pages
of 1000 from the last trade's time, ccxt's parsing, dedup by trade id, the door's validation and Avro
encoding, one Kafka transaction per commit interval), from the first committed batch until every trade is
committed. Baseline, same run, same server and broker: the same HTTP requests with aiohttp, ``orjson.loads``
of each page and one ``produce`` of each trade's JSON with an idempotent producer, then ``flush`` — what
parses and produces the same frames with nothing else.

``cpu_us_per_trade``: the adapter process's CPU time (every thread) over the measured window, per trade —
steadier than the rate on a shared machine (``load_avg_1m`` is printed with it). ``ws_trades_per_s``: the
same adapter over ccxt.pro's WebSocket client (``--transport ws``, Binance's ``aggTrade`` stream) against
a bare aiohttp client.

Latency: a read_committed consumer (in a child process) follows the feed's topic; for every tick, the time
it became visible to the consumer minus its ``mercado-produced-us`` stamp (the time the frame carrying it
was received). ``p99_ms`` is measured in a last round at a sustainable rate (``--paced-rate`` trades/s
arriving in real time while the feed polls every 20 ms); ``saturated_p99_ms``, over the throughput rounds,
is mostly the backlog's queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import numpy as np
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.common import delete_run_topics, result
from processors import topics
from streams.config import Settings, get_settings
from streams.feeds.ccxt_feed import CcxtTradesFeed
from streams.feeds.loopback import FakeBinance
from streams.feeds.runner import FeedRunner
from streams.feeds.writer import FeedWriter
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import consumer_config, producer_config
from streams.kafka.headers import produced_at

PAGE = 1000
CPU_US: list[float] = []  # the adapter process's CPU time (all its threads) per trade, of each throughput round



async def _rate_when_written(runner: Any, task: asyncio.Task[Any], writer: Any, n: int, started: float) -> float:
    """Ticks per second once the feed has committed ``n`` ticks (counted from ``started``); stops the feed."""
    while writer.committed.get("PriceTick", 0) < n:
        if task.done():
            raise RuntimeError(f"the feed stopped: {task.exception()}")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    runner.stop.set()
    await task
    return n / elapsed

def _serve(n: int, start_ms: int, urls: Any, stop: Any) -> None:
    """The child process of :func:`child_server`: a FakeBinance with ``n`` trades until ``stop`` is set."""

    async def main() -> None:
        server = FakeBinance()
        urls.put(await server.start())
        server.add_trades(1, [start_ms + i for i in range(n)])
        urls.put("ready")
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await server.stop()

    asyncio.run(main())


@contextlib.contextmanager
def child_server(n: int, start_ms: int) -> Iterator[str]:
    """The throughput rounds' server in a process of its own: in the adapter's process its JSON encoding took
    ≈ 15 % of the one GIL the adapter's two threads share (a local server is not part of the adapter)."""
    ctx = multiprocessing.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(n, start_ms, urls, stop), daemon=True)
    child.start()
    try:
        url = urls.get(timeout=60)
        urls.get(timeout=60)
        yield url
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.kill()


class VisibleLatency(threading.Thread):
    """Follows a topic (read_committed) and records now − produced-at of every message."""

    def __init__(self, settings: Settings, topic: str, expected: int):
        super().__init__(daemon=True)
        self.consumer = Consumer(consumer_config(settings, f"bench-feeds-{time.time_ns()}",
                                                 **{"fetch.wait.max.ms": 5, "enable.partition.eof": False}))
        md = self.consumer.list_topics(topic, timeout=10).topics[topic]
        self.consumer.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        self.expected = expected
        self.latencies_ms: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 600
        while len(self.latencies_ms) < self.expected and time.monotonic() < deadline and not self.done.is_set():
            for msg in self.consumer.consume(1000, 0.002):  # returns at 1000 or 2 ms: a short wait is measured
                if msg.error():
                    continue
                now = time.time_ns() // 1000
                stamp = produced_at(msg.headers())
                if stamp is not None:
                    self.latencies_ms.append((now - stamp) / 1000)
        self.consumer.close()


def _follow(settings: Settings, topic: str, expected: int, out: Any, stop: Any) -> None:
    follower = VisibleLatency(settings, topic, expected)
    out.put("ready")
    follower.done = stop  # type: ignore[assignment]
    follower.run()
    out.put(follower.latencies_ms)


class ChildLatency:
    """:class:`VisibleLatency` in a process of its own, so that following the topic (a Python call per message)
    takes nothing from the adapter's GIL; same interface (``start``, ``join``, ``latencies_ms``, ``done``)."""

    def __init__(self, settings: Settings, topic: str, expected: int):
        ctx = multiprocessing.get_context("spawn")
        self.queue, self.done = ctx.Queue(), ctx.Event()
        self.process = ctx.Process(target=_follow, args=(settings, topic, expected, self.queue, self.done),
                                   daemon=True)
        self.latencies_ms: list[float] = []

    def start(self) -> None:
        self.process.start()
        self.queue.get(timeout=60)  # assigned: what the feed commits from now on is timed

    def join(self, timeout: float) -> None:
        try:
            self.latencies_ms = self.queue.get(timeout=timeout)
        except Exception:  # noqa: BLE001 - not all seen in time: stop it and take what it has
            self.done.set()
            self.latencies_ms = self.queue.get(timeout=30)
        self.process.join(10)


async def candidate(settings: Settings, url: str, n: int, start_ms: int, latency: bool) -> tuple[float, list[float]]:
    writer = FeedWriter(settings, f"bench-{time.time_ns()}")
    feed = CcxtTradesFeed("binance", ["BTC/USDT"], api_url=url + "/api/v3", poll_interval_s=0.05, timeout_s=10,
                          feed_id=writer.feed_id)
    feed.since["BTC/USDT"] = start_ms  # from the first trade on (live, a fresh feed starts at the latest page)
    follower = ChildLatency(settings, settings.topic(topics.TICKS), n) if latency else None
    if follower:
        follower.start()
    runner = FeedRunner(feed, writer, settings)
    task = asyncio.create_task(runner.run())
    # sustained rate: from the first committed batch (start-up — ccxt's import, load_markets, the
    # transactional producer's init — left out) to the last trade committed
    first = 0
    while (first := writer.committed.get("PriceTick", 0)) == 0:
        if task.done():
            raise RuntimeError(f"the feed stopped: {task.exception()}")
        await asyncio.sleep(0.001)
    started, cpu = time.perf_counter(), time.process_time()
    while writer.committed.get("PriceTick", 0) < n:
        if task.done():
            raise RuntimeError(f"the feed stopped: {task.exception()}")
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    runner.stop.set()
    await task
    if follower:
        follower.join(30)
    CPU_US.append(cpu / (n - first) * 1e6)
    return (n - first) / elapsed, follower.latencies_ms if follower else []


async def paced(settings: Settings, url_server: tuple[str, FakeBinance], rate: int, seconds: float) -> list[float]:
    """Latency at a sustainable rate: the server's trades arrive in real time (``rate``/s, their time = now) while
    the feed polls; returns frame received → visible (ms) of every tick."""
    url, server = url_server
    writer = FeedWriter(settings, f"bench-paced-{time.time_ns()}")
    feed = CcxtTradesFeed("binance", ["BTC/USDT"], api_url=url + "/api/v3", poll_interval_s=0.02, timeout_s=10,
                          feed_id=writer.feed_id)
    n = int(rate * seconds)
    follower = ChildLatency(settings, settings.topic(topics.TICKS), n)
    follower.start()
    runner = FeedRunner(feed, writer, settings)
    task = asyncio.create_task(runner.run())
    while not writer.commits:  # started: connected and its first (empty-page) heartbeat or probe committed
        await asyncio.sleep(0.01)
    next_id, started = 10_000_000, time.perf_counter()
    while next_id - 10_000_000 < n:
        due = int((time.perf_counter() - started) * rate) - (next_id - 10_000_000)
        if due > 0:
            now_ms = int(time.time() * 1000)
            server.add_trades(next_id, [now_ms] * min(due, n - (next_id - 10_000_000)))
            next_id += due
        await asyncio.sleep(0.005)
    while writer.committed.get("PriceTick", 0) < n and not task.done():
        await asyncio.sleep(0.01)
    runner.stop.set()
    await task
    follower.join(30)
    return follower.latencies_ms


async def ws_round(settings: Settings, n: int, adapter: bool) -> float:
    """Quotes/s over TwelveData's WebSocket format: the ``mercado feed twelvedata`` adapter (``adapter``) or a bare
    aiohttp client that parses each frame with orjson and produces it; the server sends ``n`` price frames."""
    from processors.marketdata.calendars import CalendarBook
    from streams.feeds.loopback import FakeTwelveData
    from streams.feeds.twelvedata import TwelveDataQuotes

    server = FakeTwelveData()
    url = await server.start()
    t0 = int(time.time()) - 200
    frames = [orjson.dumps({"event": "price", "symbol": "BTC/USD", "timestamp": t0 + i // 1000,
                            "price": round(60_000 + i * 0.01, 2), "bid": 59_999.5, "ask": 60_000.5}).decode()
              for i in range(n)]
    ws_url = url.replace("http", "ws") + "/v1/quotes/price"
    try:
        if adapter:
            cal = settings.with_(marketdata__venue_calendars={"twelvedata": "crypto"}).marketdata
            writer = FeedWriter(settings, f"bench-ws-{time.time_ns()}")
            feed = TwelveDataQuotes(["BTC/USD"], CalendarBook(cal), ws_url=ws_url, rest_url=url, key="bench",
                                    feed_id=writer.feed_id)
            runner = FeedRunner(feed, writer, settings)
            task = asyncio.create_task(runner.run())
            await asyncio.wait_for(server.subscribed.wait(), 30)
            started = time.perf_counter()
            for frame in frames:
                await server.push("BTC/USD", 0, 0, raw=frame)
            return await _rate_when_written(runner, task, writer, n, started)
        producer = Producer(producer_config(settings))
        producer.list_topics(timeout=10)
        topic = settings.topic(topics.TICKS)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            await ws.send_str('{"action": "subscribe", "params": {"symbols": "BTC/USD"}}')
            await ws.receive()  # subscribe-status

            async def send() -> None:
                for frame in frames:
                    await server.push("BTC/USD", 0, 0, raw=frame)

            started = time.perf_counter()
            sender = asyncio.create_task(send())
            for _ in range(n):
                msg = await ws.receive()
                frame = orjson.loads(msg.data)
                while True:
                    try:
                        producer.produce(topic, orjson.dumps(frame), b"twelvedata:BTC/USD",
                                         timestamp=frame["timestamp"] * 1000)
                        break
                    except BufferError:
                        producer.poll(0.01)
                producer.poll(0)
            await sender
            producer.flush(60)
            return n / (time.perf_counter() - started)
    finally:
        await server.stop()


async def ws_trades_round(settings: Settings, n: int, adapter: bool) -> float:
    """Trades/s over Binance's WebSocket ``aggTrade`` stream: the ``mercado feed ccxt binance --transport ws``
    adapter (``adapter``; ccxt.pro's client and parser, top of book off) or a bare aiohttp client that parses each
    frame with orjson and produces it; the server sends ``n`` trade frames as fast as it can."""
    from streams.feeds.ccxt_ws import CcxtWsFeed

    server = FakeBinance()
    url = await server.start()
    ws_url = url.replace("http", "ws") + "/ws"
    stream = "btcusdt@aggTrade"
    t0 = int(time.time() * 1000) - n - 1000
    frames = [orjson.dumps({"e": "aggTrade", "E": t0 + i + 1, "s": "BTCUSDT", "a": i + 1,
                            "p": f"{100 + i * 0.01:.2f}", "q": "0.50000000", "f": i + 1, "l": i + 1, "T": t0 + i,
                            "m": i % 2 == 0, "M": True}).decode() for i in range(n)]

    async def send() -> None:
        for frame in frames:
            await server._ws_send(stream, frame)

    try:
        if adapter:
            writer = FeedWriter(settings, f"bench-wst-{time.time_ns()}")
            feed = CcxtWsFeed("binance", ["BTC/USDT"], api_url=url + "/api/v3", ws_url=ws_url, book=False,
                              timeout_s=10, feed_id=writer.feed_id)
            runner = FeedRunner(feed, writer, settings)
            task = asyncio.create_task(runner.run())
            while not any(stream in s for _, s in server.ws_sockets):
                await asyncio.sleep(0.01)
            started = time.perf_counter()
            await send()
            return await _rate_when_written(runner, task, writer, n, started)
        producer = Producer(producer_config(settings))
        producer.list_topics(timeout=10)
        topic = settings.topic(topics.TICKS)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": [stream], "id": 1}).decode())
            await ws.receive()  # {"result": null, "id": 1}
            started = time.perf_counter()
            sender = asyncio.create_task(send())
            for _ in range(n):
                frame = orjson.loads((await ws.receive()).data)
                while True:
                    try:
                        producer.produce(topic, orjson.dumps(frame), b"binance:BTC/USDT", timestamp=frame["T"])
                        break
                    except BufferError:
                        producer.poll(0.01)
                producer.poll(0)
            await sender
            producer.flush(60)
            return n / (time.perf_counter() - started)
    finally:
        await server.stop()


async def baseline(settings: Settings, url: str, n: int, start_ms: int) -> float:
    producer = Producer(producer_config(settings))
    producer.list_topics(timeout=10)
    topic = settings.topic(topics.TICKS)  # a topic of its own (its run prefix), same partitions
    started = time.perf_counter()
    since, count, seen = start_ms, 0, set()
    async with aiohttp.ClientSession() as session:
        while count < n:
            async with session.get(f"{url}/api/v3/aggTrades", params={
                    "symbol": "BTCUSDT", "startTime": since, "endTime": since + 3_600_000, "limit": PAGE}) as r:
                page = orjson.loads(await r.read())
            for item in page:
                if item["a"] in seen:  # the page starts at the last trade's millisecond, as the feed's does
                    continue
                seen.add(item["a"])
                while True:
                    try:
                        producer.produce(topic, orjson.dumps(item), b"binance:BTC/USDT", timestamp=item["T"])
                        break
                    except BufferError:
                        producer.poll(0.01)
                count += 1
            producer.poll(0)
            since = page[-1]["T"]
    producer.flush(60)
    return n / (time.perf_counter() - started)


async def main_async(args: argparse.Namespace) -> None:
    base = get_settings()
    run = f"bench.feeds.{time.strftime('%Y%m%d%H%M%S')}."
    server = FakeBinance()  # the latency round's, in this process: the round adds trades as it goes
    paced_url = await server.start()
    n = args.trades
    start_ms = int(time.time() * 1000) - n - 1000
    stack = contextlib.ExitStack()
    url = stack.enter_context(child_server(n, start_ms)) if args.server_process else paced_url
    if not args.server_process:
        server.add_trades(1, [start_ms + i for i in range(n)])
    rates: dict[str, list[float]] = {"candidate": [], "baseline": []}
    latencies: list[float] = []
    ws_rates: dict[str, list[float]] = {"candidate": [], "baseline": []}
    ws_trade_rates: dict[str, list[float]] = {"candidate": [], "baseline": []}
    try:
        for r in range(args.repeats):
            settings = base.with_(kafka__topic_prefix=f"{run}{r}.", feeds__commit_interval_ms=args.commit_ms,
                                  feeds__probe_interval_s=3600.0)
            ensure_topics(settings)
            raw = settings.with_(kafka__topic_prefix=f"{run}{r}.raw.")
            ensure_topics(raw)
            rates["baseline"].append(await baseline(raw, url, n, start_ms))
            rate, lat = await candidate(settings, url, n, start_ms, latency=True)
            rates["candidate"].append(rate)
            latencies += lat
            print(f"round {r}: candidate {rate:,.0f} trades/s ({CPU_US[-1]:.1f} CPU-µs a trade), "
                  f"baseline {rates['baseline'][-1]:,.0f} trades/s")
            if args.ws_trades:
                ws_trade_rates["baseline"].append(await ws_trades_round(raw, args.ws_trades, adapter=False))
                ws_trade_rates["candidate"].append(await ws_trades_round(settings, args.ws_trades, adapter=True))
                print(f"round {r}: ccxt.pro websocket trades adapter {ws_trade_rates['candidate'][-1]:,.0f} trades/s, "
                      f"baseline {ws_trade_rates['baseline'][-1]:,.0f} trades/s")
            if args.ws_quotes:
                ws_rates["baseline"].append(await ws_round(raw, args.ws_quotes, adapter=False))
                ws_rates["candidate"].append(await ws_round(settings, args.ws_quotes, adapter=True))
                print(f"round {r}: twelvedata websocket adapter {ws_rates['candidate'][-1]:,.0f} quotes/s, "
                      f"baseline {ws_rates['baseline'][-1]:,.0f} quotes/s")
        settings = base.with_(kafka__topic_prefix=f"{run}paced.", feeds__commit_interval_ms=args.commit_ms,
                              feeds__probe_interval_s=3600.0)
        ensure_topics(settings)
        server.clear()
        steady = await paced(settings, (paced_url, server), args.paced_rate, args.paced_s)
    finally:
        stack.close()
        await server.stop()
        delete_run_topics(base, [run], [])

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(np.array(values), q)) if values else float("nan")

    p50, p99 = pct(steady, 50), pct(steady, 99)
    s50, s99 = pct(latencies, 50), pct(latencies, 99)
    print(f"frame received -> tick visible (read_committed) at {args.paced_rate:,} trades/s: p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms over {len(steady):,} ticks; saturated (backlog): p50 {s50:.1f} ms, p99 {s99:.1f} ms")
    result("feeds", max(rates["candidate"]), max(rates["baseline"]), "trades/s", p99_ms=round(p99, 1),
           p50_ms=round(p50, 1), paced_rate=args.paced_rate, saturated_p99_ms=round(s99, 1), trades=n,
           commit_interval_ms=args.commit_ms, server_process=args.server_process,
           cpu_us_per_trade=round(min(CPU_US), 2), load_avg_1m=round(os.getloadavg()[0], 2),
           ws_trades_per_s=round(max(ws_trade_rates["candidate"], default=0.0), 1),
           ws_trades_baseline_per_s=round(max(ws_trade_rates["baseline"], default=0.0), 1),
           ws_quotes_per_s=round(max(ws_rates["candidate"], default=0.0), 1),
           ws_baseline_per_s=round(max(ws_rates["baseline"], default=0.0), 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--commit-ms", type=int, default=50)
    parser.add_argument("--ws-trades", type=int, default=20_000, help="trades per ccxt.pro WebSocket round (0: none)")
    parser.add_argument("--ws-quotes", type=int, default=50_000, help="quotes per WebSocket round (0: none)")
    parser.add_argument("--paced-rate", type=int, default=2000, help="trades/s of the latency round")
    parser.add_argument("--server-process", action=argparse.BooleanOptionalAction, default=True,
                        help="the throughput rounds' server in a child process (--no-server-process: in this one)")
    parser.add_argument("--paced-s", type=float, default=15.0, help="length of the latency round")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
