"""``python -m bench.gateway``: WebSocket push latency and fan-out of ``mercado api``, next to a raw baseline,
and HTTP read latency at a fixed request rate.

**Push.** Fresh topics (``<prefix>bench.gateway.<run>.``). ``--clients`` WebSocket clients (asyncio + the
``websockets`` library, in ``--client-procs`` processes of their own) connect on loopback; client k subscribes
to ``ticks:sim:<S>`` and ``bars:sim:<S>:1`` of symbol S = k mod ``--symbols`` (one symbol, ``BENCH``, by
default: every client gets every tick); this process (the project's producer settings) then writes
``--rate`` PriceTicks per second, round robin over the symbols, for ``--seconds`` seconds, and one Bar per
symbol per second, each stamped with its wall-clock produce time.
Latency = the time a client parsed the message minus that produce time (same machine, same clock), over
every message of every client: ``p50/p99_tick_to_client_ms``; ``p99_bar_to_client_ms`` is the same for
bars (from the Bar's produce: the worker's own tick -> bar latency, ``bench.marketdata_live``, comes on
top). ``messages_per_s`` = messages received by all clients / the produce duration.

* Candidate: ``python -m gateway`` (= ``mercado api``) as a subprocess: one read_committed consumer,
  channels, sequence numbers, per-client outboxes. Its RSS is read from /proc after the clients connect
  (``rss_mb_idle``) and at the end of the load (``rss_mb``).
* Baseline (``raw_*``): ``python -m bench.gateway --raw``: a plain confluent-kafka loop (read_committed)
  decoding with the project's serde and ``websockets.broadcast`` of the same JSON to the sockets following
  the event's symbol (the URL path names it) — no auth, channels, sequences or buffers, no compression (as
  the gateway's default). Same clients, same load, run first.

**HTTP.** A private database filled like the integration tests (tests/support/gateway.py: the generated
day's 16:00-17:15 window through the pipelines and the sink), then ``--http-rate`` requests/s for
``--http-seconds`` s of each of ``/marketdata/prices`` and a one-hour ``/marketdata/bars`` range, issued
on a fixed schedule (open loop: a late answer does not delay the next request) with httpx:
``http_latest_p99_ms``, ``http_bars_p99_ms``.

``cpu_us_per_message`` / ``raw_cpu_us_per_message``: each server's CPU time (user + system, from /proc) over
the load and its stragglers, per message delivered (a figure a shared machine's noise swamps less).

Where the tail comes from: ``p99_tick_by_second_ms`` (and ``raw_``) is the tick p99 of each second of the
load, by produce time (a start-up tail shows in the first seconds, a periodic pause as isolated peaks, a
backlog as a rising series); ``clients_cores`` / ``producer_cores`` are the CPU the client processes and this
process (the producer) used over the load, in cores, and ``machine_busy`` the share of the machine's CPU time
that was busy (1.0: every core saturated, so latency measures the scheduler as much as the servers);
``autogroup`` is this process's scheduling group (with ``kernel.sched_autogroup_enabled`` = 1, each session
shares the CPU equally whatever its processes' ``nice``: ``nice -n 19`` elsewhere does not leave the CPU to
the bench, raising the bench session's group (``echo -10 > /proc/self/autogroup``) does). The clients and the
raw server run with their garbage collector frozen after connecting (a full collection in a client process
paused 500 clients' reading for 0.1-0.6 s: a harness artefact), as the gateway freezes its own heap.

Bars: the bench produces them itself, so ``p99_bar_to_client_ms`` is the gateway's hop only (Bar produce ->
client), next to the raw loop's same hop (``raw_p99_bar_to_client_ms``); the issue's target (bar -> client
within the worker's bar latency + 20 ms) is this hop <= 20 ms, compared as such; the worker's own latency is
``bench.marketdata_live``'s.

The last line is one JSON object. No client starves: ``starved_clients`` counts clients that received
less than 90 % of the ticks (conflation would show there).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from processors import topics
from streams.config import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-read-key"


# --------------------------------------------------------------------------- the raw baseline's process
def raw_server(port: int) -> None:
    """Consume ticks and bars (read_committed, from the end) and broadcast each as JSON to every socket."""
    import websockets
    from confluent_kafka import Consumer, TopicPartition
    from websockets.asyncio.server import broadcast, serve

    from streams.codec.serde import AvroSerde
    from streams.kafka.clients import consumer_config
    from streams.kafka.consumer import end_offsets, fetch_ready

    settings = get_settings()
    names = [settings.topic(topics.TICKS), settings.topic(topics.BARS)]
    clients: set[Any] = set()

    by_symbol: dict[str, set[Any]] = {}

    async def handler(ws: Any) -> None:  # the path names the symbol the client follows (its ticks and bars)
        listeners = by_symbol.setdefault(ws.request.path.strip("/"), set())
        clients.add(ws)
        listeners.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)
            listeners.discard(ws)

    def send(batch: list[tuple[str, str]]) -> None:
        for symbol, text in batch:
            broadcast(by_symbol.get(symbol, ()), text)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        consumer = Consumer(consumer_config(settings, f"bench-raw-{os.getpid()}", **{"fetch.wait.max.ms": 5}))
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in end_offsets(settings, names).items()])
        serde = AvroSerde()

        def consume() -> None:  # the same consumer settings as the gateway's push consumer
            while not stop.is_set():
                batch = []
                for msg in fetch_ready(consumer, 2000, 0.05):  # as the gateway
                    if msg.error() is None:
                        schema, record = serde.decode(msg.value())
                        text = orjson.dumps({"channel": schema.name, "data": record}, default=str).decode()
                        batch.append((record["symbol"], text))
                if batch:
                    loop.call_soon_threadsafe(send, batch)
            consumer.close()

        async with serve(handler, "127.0.0.1", port, max_queue=None, compression=None):  # as the gateway
            thread = threading.Thread(target=consume, daemon=True)
            thread.start()
            gc.collect()  # as the gateway does after startup (streams.runtime.heap.freeze_heap)
            gc.freeze()
            print("ready", flush=True)
            await stop.wait()
        thread.join(10)

    assert websockets
    run_loop(main())


# --------------------------------------------------------------------------- load
def run_loop(main: Any) -> Any:
    """``main`` on the event loop uvicorn gives the gateway (uvloop when installed), so the raw server and the
    clients run on the same loop as the candidate."""
    from uvicorn.loops.auto import auto_loop_factory

    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        return runner.run(main)


def symbol_of(k: int, symbols: int) -> str:
    """The symbol of tick / client ``k`` when the load is spread over ``symbols`` symbols."""
    return "BENCH" if symbols == 1 else f"BENCH{k % symbols}"


def channels_of(symbol: str) -> list[str]:
    return [f"ticks:sim:{symbol}", f"bars:sim:{symbol}:1"]


def tick(i: int, now_us: int, symbol: str = "BENCH") -> dict[str, Any]:
    return {"event_id": f"sim:{symbol}:{i}", "event_time": now_us, "venue": "sim", "symbol": symbol, "bid": 100.0,
            "ask": 100.5, "last": 100.25, "volume": 1.0, "sequence": i, "backfill_id": None}  # fmt: skip


def bar(i: int, now_us: int, symbol: str = "BENCH") -> dict[str, Any]:
    return {"event_id": f"bar:sim:{symbol}:1:{i}", "event_time": now_us, "venue": "sim", "symbol": symbol,
            "interval_s": 1, "start": now_us - 1_000_000, "end": now_us, "open": 100.0, "high": 101.0, "low": 99.0,
            "close": 100.5, "volume": 10.0, "vwap": 100.2, "tick_count": 10, "price_source": "LAST",
            "session": "24x7", "revision": 0, "first_tick_id": "a", "last_tick_id": "b"}  # fmt: skip


def produce(settings: Settings, rate: int, seconds: float, sent: dict[str, int], symbols: int = 1) -> float:
    """Ticks at ``rate``/s (round robin over ``symbols`` symbols) and a Bar per symbol per second;
    ``sent[event_id]`` = produce time (ns). Returns the duration."""
    from confluent_kafka import Producer

    from streams.codec.serde import AvroSerde
    from streams.kafka.clients import producer_config

    serde = AvroSerde()
    enc_tick, enc_bar = serde.encoder("PriceTick"), serde.encoder("Bar")
    producer = Producer(producer_config(settings))
    tick_topic, bar_topic = settings.topic(topics.TICKS), settings.topic(topics.BARS)
    warm = tick(-1, time.time_ns() // 1000)  # connection, metadata and producer id before the clock starts
    producer.produce(tick_topic, enc_tick(warm), b"sim:BENCH")
    producer.flush(30)
    time.sleep(1)
    started = time.perf_counter()
    n = int(rate * seconds)
    next_bar = 1.0
    for i in range(n):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        now = time.time_ns()
        symbol = symbol_of(i, symbols)
        record = tick(i, now // 1000, symbol)
        sent[record["event_id"]] = now
        producer.produce(tick_topic, enc_tick(record), f"sim:{symbol}".encode())
        if time.perf_counter() - started >= next_bar:
            for j in range(symbols):
                symbol = symbol_of(j, symbols)
                b = bar(int(next_bar), now // 1000, symbol)
                sent[b["event_id"]] = time.time_ns()
                producer.produce(bar_topic, enc_bar(b), f"sim:{symbol}".encode())
            next_bar += 1
        producer.poll(0)
    producer.flush(30)
    return time.perf_counter() - started


async def _clients(url: str, ks: range, gateway: bool, symbols: int) -> list[list[tuple[str, int]]]:
    """Clients ``ks`` (client k follows symbol ``symbol_of(k)``): connect, say "connected" on stdout, read until
    a line on stdin, then return what each received: (event id, receive time ns)."""
    from websockets.asyncio.client import connect

    received: list[list[tuple[str, int]]] = [[] for _ in ks]
    sockets = []
    for k in ks:
        symbol = symbol_of(k, symbols)
        ws = await connect(url if gateway else f"{url}/{symbol}", max_queue=None, open_timeout=60,
                           additional_headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
        if gateway:
            await ws.recv()  # welcome
            await ws.send(orjson.dumps({"op": "subscribe", "channels": channels_of(symbol)}).decode())
            await ws.recv()
            await ws.recv()  # two snapshots
        sockets.append(ws)
    # a client's garbage collector stops its reading (a full collection of this process took 0.1-0.6 s with its
    # receipts growing): 1,000 remote browsers would not pause together, so the harness measures without it
    gc.collect()
    gc.freeze()
    gc.disable()
    print("connected", flush=True)

    async def reader(out: list[tuple[str, int]], ws: Any) -> None:
        try:
            async for text in ws:
                m = orjson.loads(text)
                data = m.get("data")
                if isinstance(data, dict):
                    out.append((data["event_id"], time.time_ns()))
        except Exception:  # noqa: BLE001 — closed at the end
            return

    tasks = [asyncio.create_task(reader(out, ws)) for out, ws in zip(received, sockets, strict=True)]
    await asyncio.to_thread(sys.stdin.readline)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return received


def clients_child(url: str, first: int, n: int, gateway: bool, symbols: int, out: str) -> None:
    """The clients' receipts go to the file ``out`` (a pipe to the parent came back cut at 128 KiB twice under
    load average 13-20, the child exiting 0)."""
    received = run_loop(_clients(url, range(first, first + n), gateway, symbols))
    Path(out).write_bytes(orjson.dumps(received))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clients_run(url: str, n: int, gateway: bool, settings: Settings, rate: int, seconds: float, *, symbols: int = 1,
                procs: int = 1, on_connected: Any = None, server_pid: int | None = None) -> dict[str, Any]:  # fmt: skip
    """``n`` clients in ``procs`` processes of their own (the clients' parsing is not this process's, nor one
    core's, bottleneck); the load is produced from here once all are connected."""
    children, first, outs = [], 0, []
    tmp = tempfile.TemporaryDirectory(prefix="bench-gateway-")
    for p in range(procs):
        count = n // procs + (p < n % procs)
        outs.append(str(Path(tmp.name) / f"clients-{p}.json"))
        argv = [sys.executable, "-m", "bench.gateway", "--clients-child", url, str(first), str(count),
                str(int(gateway)), str(symbols), outs[-1]]  # fmt: skip
        children.append(subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        first += count
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "connected", "a client process failed"
    if on_connected:
        on_connected()
    cpu0 = cpu_s(server_pid) if server_pid else 0.0
    clients0, own0, machine0 = sum(cpu_s(c.pid) for c in children), time.process_time(), machine_busy()
    sent: dict[str, int] = {}
    duration = produce(settings, rate, seconds, sent, symbols)
    clients_cpu, own_cpu = sum(cpu_s(c.pid) for c in children) - clients0, time.process_time() - own0
    busy, jiffies = (b - a for a, b in zip(machine0, machine_busy(), strict=True))
    time.sleep(3)  # stragglers
    cpu = cpu_s(server_pid) - cpu0 if server_pid else float("nan")
    received: list[list[tuple[str, int]]] = []
    with tmp:
        for child, out in zip(children, outs, strict=True):
            child.communicate("stop\n", timeout=120)
            assert child.returncode == 0, f"client process {child.pid} exited with {child.returncode}"
            received.extend(orjson.loads(Path(out).read_bytes()))
    ticks_ms, bars_ms, counts = [], [], []
    started = min(sent.values(), default=0)
    by_second: dict[int, list[float]] = {}  # produce second -> tick latencies (where in the run the tail is)
    for per_client in received:
        got = 0
        for event_id, at in per_client:
            t0 = sent.get(event_id)
            if t0 is None:
                continue
            ms = (at - t0) / 1e6
            if event_id.startswith("bar:"):
                bars_ms.append(ms)
            else:
                ticks_ms.append(ms)
                by_second.setdefault(int((t0 - started) // 1_000_000_000), []).append(ms)
                got += 1
        counts.append(got)
    total = int(rate * seconds)
    expected = [len(range(k % symbols, total, symbols)) for k in range(n)]  # the ticks of client k's symbol
    return {
        "ticks_ms": ticks_ms, "bars_ms": bars_ms, "duration": duration, "server_cpu_s": cpu,
        "p99_by_second": [round(pct(by_second.get(t, []), 0.99), 1) for t in range(max(by_second, default=-1) + 1)],
        "messages": sum(len(r) for r in received),
        # over the produce window, in cores: the client processes, this process (the producer), the whole machine
        "clients_cores": clients_cpu / duration, "producer_cores": own_cpu / duration,
        "machine_busy": busy / max(1, jiffies),
        "starved": sum(c < 0.9 * e for c, e in zip(counts, expected, strict=True)),
    }  # fmt: skip


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far (/proc/stat): how saturated the machine was over a window."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


async def http_load(base: str, path: str, params: dict[str, Any], rate: int, seconds: float) -> list[float]:
    import httpx

    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {KEY}"},
                                 limits=httpx.Limits(max_connections=64)) as client:  # fmt: skip

        async def one() -> None:
            t0 = time.perf_counter()
            r = await client.get(path, params=params)
            assert r.status_code == 200, r.text[:200]
            latencies.append((time.perf_counter() - t0) * 1000)

        start, tasks = time.perf_counter(), []
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=int, default=500, help="ticks per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--http-rate", type=int, default=50)
    parser.add_argument("--http-seconds", type=float, default=5)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument(
        "--symbols",
        type=int,
        default=1,
        help="ticks spread round robin over this many symbols; client k follows symbol k mod N",
    )
    parser.add_argument("--client-procs", type=int, default=2, help="processes the clients run in")
    parser.add_argument("--clients-child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients_child:
        url, first, n, gateway, symbols, out = args.clients_child
        clients_child(url, int(first), int(n), gateway == "1", int(symbols), out)
        return
    if args.raw:
        raw_server(args.port)
        return

    from bench.common import delete_run_topics
    from gateway.push import PUSH_TOPICS
    from tests.support.sink import create_database, create_topics, drop_database, free_port, isolated, migrated

    base_settings = get_settings()
    run = f"{base_settings.kafka.topic_prefix}bench.gateway.{uuid.uuid4().hex[:8]}."
    settings = base_settings.with_(kafka__topic_prefix=run)
    create_topics(settings, *PUSH_TOPICS)
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": run, "MERCADO_GATEWAY__READ_KEYS": json.dumps([KEY]),
           "MERCADO_KAFKA_BOOTSTRAP": settings.bootstrap()}  # fmt: skip
    database = None
    prefixes = [run]  # topics this run creates, deleted at the end
    out: dict[str, Any] = {
        "bench": "gateway",
        "clients": args.clients,
        "ticks_per_s": args.rate,
        "symbols": args.symbols,
    }
    try:
        # baseline
        port = free_port()
        raw = subprocess.Popen([sys.executable, "-m", "bench.gateway", "--raw", "--port", str(port)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert raw.stdout is not None and raw.stdout.readline().strip() == "ready"
        r = clients_run(
            f"ws://127.0.0.1:{port}",
            args.clients,
            False,
            settings,
            args.rate,
            args.seconds,
            symbols=args.symbols,
            procs=args.client_procs,
            server_pid=raw.pid,
        )
        raw.send_signal(signal.SIGTERM)
        raw.wait(30)
        # candidate (+ the database for the HTTP part)
        if not args.no_http:
            database = create_database(base_settings, "bench_gateway")
            filled = migrated(isolated(database))
            prefixes.append(filled.kafka.topic_prefix)
            from tests.support.gateway import fill, generate

            with tempfile.TemporaryDirectory() as tmp:
                fill(filled, generate(Path(tmp)))
            env.update({"MERCADO_DATABASE_URL": filled.dsn(), "MERCADO_DB__SCHEMA_NAME": filled.db.schema_name})
        port = free_port()
        api = subprocess.Popen([sys.executable, "-m", "gateway", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{port}/api/v1/system/ping", api)
            time.sleep(2)  # the push consumer's assignment
            idle: list[float] = []
            g = clients_run(f"ws://127.0.0.1:{port}/api/v1/ws", args.clients, True, settings, args.rate, args.seconds,
                            symbols=args.symbols, procs=args.client_procs, server_pid=api.pid,
                            on_connected=lambda: idle.append(rss_mb(api.pid)))  # fmt: skip
            out["rss_mb_idle"] = round(idle[0], 1)
            out["rss_mb"] = round(rss_mb(api.pid), 1)
            if not args.no_http:
                base = f"http://127.0.0.1:{port}/api/v1"
                latest = asyncio.run(http_load(base, "/marketdata/prices", {}, args.http_rate, args.http_seconds))
                bars = asyncio.run(http_load(base, "/marketdata/bars", {
                    "venue": "binance", "symbol": "BTC/USDT", "start": "2026-11-20T16:00:00Z",
                    "end": "2026-11-20T17:00:00Z", "limit": 60}, args.http_rate, args.http_seconds))  # fmt: skip
                out.update(
                    {
                        "http_rate": args.http_rate,
                        "http_latest_p50_ms": round(pct(latest, 0.5), 2),
                        "http_latest_p99_ms": round(pct(latest, 0.99), 2),
                        "http_bars_p50_ms": round(pct(bars, 0.5), 2),
                        "http_bars_p99_ms": round(pct(bars, 0.99), 2),
                    }
                )
        finally:
            api.send_signal(signal.SIGTERM)
            api.wait(30)
    finally:
        delete_run_topics(settings, prefixes, [])
        if database is not None:
            drop_database(database)
    out.update({
        "p50_tick_to_client_ms": round(pct(g["ticks_ms"], 0.5), 2),
        "p99_tick_to_client_ms": round(pct(g["ticks_ms"], 0.99), 2),
        "p99_bar_to_client_ms": round(pct(g["bars_ms"], 0.99), 2),
        "p50_bar_to_client_ms": round(pct(g["bars_ms"], 0.5), 2),
        "raw_p99_bar_to_client_ms": round(pct(r["bars_ms"], 0.99), 2),
        "raw_p50_tick_to_client_ms": round(pct(r["ticks_ms"], 0.5), 2),
        "raw_p99_tick_to_client_ms": round(pct(r["ticks_ms"], 0.99), 2),
        "messages_per_s": round(g["messages"] / g["duration"]),
        "raw_messages_per_s": round(r["messages"] / r["duration"]),
        "starved_clients": g["starved"], "raw_starved_clients": r["starved"],
        # the server's CPU time over the load (+3 s) per message delivered: robust to a shared machine's noise
        "cpu_us_per_message": round(g["server_cpu_s"] / max(1, g["messages"]) * 1e6, 1),
        "raw_cpu_us_per_message": round(r["server_cpu_s"] / max(1, r["messages"]) * 1e6, 1),
        "loadavg": Path("/proc/loadavg").read_text().split()[0],
        "autogroup": Path("/proc/self/autogroup").read_text().strip() if Path("/proc/self/autogroup").exists() else "",
        "clients_cores": round(g["clients_cores"], 2), "raw_clients_cores": round(r["clients_cores"], 2),
        "producer_cores": round(g["producer_cores"], 2),
        "machine_busy": round(g["machine_busy"], 2), "raw_machine_busy": round(r["machine_busy"], 2),
        "p99_tick_by_second_ms": g["p99_by_second"], "raw_p99_tick_by_second_ms": r["p99_by_second"],
    })  # fmt: skip
    print(f"push, {args.clients} clients, {args.rate} ticks/s: tick->client p50 {out['p50_tick_to_client_ms']} ms, "
          f"p99 {out['p99_tick_to_client_ms']} ms (raw {out['raw_p99_tick_to_client_ms']} ms); bar->client p99 "
          f"{out['p99_bar_to_client_ms']} ms; {out['messages_per_s']:,} msg/s (raw {out['raw_messages_per_s']:,}); "
          f"RSS {out['rss_mb']} MB; server CPU {out['cpu_us_per_message']} us/message (raw "
          f"{out['raw_cpu_us_per_message']})", file=sys.stderr)  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
