"""``python -m bench.risk_live --workers 1,3``: order -> risk decision latency at the live edge, per number of workers.

The risk pipeline has a repartition: its rekey stage merges ticks, orders and venue-health probes (three
topics of six partitions here) per task and writes ``risk.inputs.v1``; the risk stage merges what the
rekey tasks wrote, in position order. At the live edge the merge holds a record until every stream it
merges can be passed, or until the stream it waits for has been idle ``MERCADO_WORKER__MERGE_IDLE_MS``
(500 ms by default). With one worker, every rekey task is in the same process as every risk task; with
several, a risk task waits for writers on other workers. This measures what that costs.

Each phase runs on fresh topics (``<prefix>bench.risklive.<run>.<phase>.``, deleted at the end). A feed
produces, with ``event_time`` = the wall clock: PriceTicks at ``--rate`` per second round-robin over six
keys (binance, kraken, coinbase x BTC/USDT, ETH/USDT: the generated day's market maker,
:func:`~streams.generator.trading.risk_setup.day_config`), one VenueHealth probe per venue every second
(keyed by venue: other partitions than the venue's ticks), and ``--orders`` OrderSubmitted per second
(small limit buys at the bid, round-robin over the keys). A reader thread (read_committed, as every
downstream consumer) stamps the wall-clock time each order's decision (OrderApproved or OrderRejected on
``risk.order-decisions.v1``) arrives. Latency = that time − the time the order was handed to the producer.

* ``workers=N`` phases: N native workers (``mercado worker --pipeline risk``, ids w0..wN-1, project
  defaults) in one group. Measuring starts once the group is stable with N members and the orders of the
  last second have their decisions; it lasts ``--seconds``, then ``--drain-s`` for the last decisions.
* baseline (``raw-echo``): the same feed, the orders topic echoed by ``bench.raw_echo`` (a raw
  consume-decode-encode-produce loop, no state, no transactions: two hops through the broker) and read
  back the same way.

Nothing is pinned: the workers and the bench share the machine; its load average is reported with each
phase. The last line is one JSON object: ``value`` is the p99 with the most workers, ``baseline`` the raw
echo's p99, and ``phases`` holds p50/p99/max per phase.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupState, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.common import Run, result
from bench.marketdata_live import RAW_OUT, percentile
from bench.raw_echo import fetch
from infra.processes import stop_group
from processors import topics
from streams.codec.serde import AvroSerde
from streams.config import Settings, get_settings
from streams.engines.live import group_id
from streams.generator.trading.risk_setup import VENUES, day_config
from streams.kafka.catalog import topic
from streams.kafka.clients import admin_config, consumer_config, producer_config
from tests.support.risk_events import wire

PARTITIONS = 6
SYMBOLS = {"BTC/USDT": (50_000.0, "0.001"), "ETH/USDT": (3_000.0, "0.01")}  # price, order quantity
INPUTS = (topics.TICKS, topics.ORDERS, topics.VENUE_HEALTH)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Reader(threading.Thread):
    """Reads ``name`` (read_committed) and keeps the first arrival time of each client_order_id."""

    def __init__(self, s: Settings, name: str) -> None:
        super().__init__(daemon=True)
        self.serde = AvroSerde(registry_url=s.kafka.schema_registry_url)
        self.consumer = Consumer(consumer_config(s, f"{s.kafka.topic_prefix}bench-reader",
                                                 **{"fetch.wait.max.ms": 5, "enable.partition.eof": False}))
        physical = s.topic(name)
        parts = self.consumer.list_topics(physical, timeout=10).topics[physical].partitions
        self.consumer.assign([TopicPartition(physical, p, OFFSET_BEGINNING) for p in parts])
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        arrived = self.arrived
        while not self.stop.is_set():
            msgs = fetch(self.consumer)
            now = time.time()
            for msg in msgs:
                if msg.error() is None and msg.value() is not None:
                    arrived.setdefault(self.serde.decode(msg.value())[1]["client_order_id"], now)
        self.consumer.close()


class Feed:
    """Ticks, probes and orders with event time = now; ``sent`` keeps when each order went to the producer."""

    def __init__(self, s: Settings, rate: int, orders: int) -> None:
        self.s, self.rate, self.orders = s, rate, orders
        serde = AvroSerde(registry_url=s.kafka.schema_registry_url)
        self.encoders = {(n, t): serde.encoder(n, s.topic(t)) for n, t in (
            ("PriceTick", topics.TICKS), ("OrderSubmitted", topics.ORDERS), ("VenueHealth", topics.VENUE_HEALTH))}
        self.producer = Producer(producer_config(s))
        self.keys = [(v, sym) for v in VENUES for sym in SYMBOLS]
        self.tick_keys, self.order_keys = itertools.cycle(self.keys), itertools.cycle(self.keys)
        self.sent: dict[str, float] = {}
        self.n_ticks = self.n_orders = 0
        self.started = time.time()
        self.next_probe = self.started

    def _produce(self, schema: str, name: str, key: str, **fields: Any) -> None:
        value = self.encoders[(schema, name)](wire(schema, **fields)[1])
        try:
            self.producer.produce(self.s.topic(name), value, key)
        except BufferError:
            self.producer.poll(0.05)
            self.producer.produce(self.s.topic(name), value, key)

    def step(self) -> None:
        """Produces what is due now."""
        now = time.time()
        now_us = int(now * 1_000_000)
        elapsed = now - self.started
        while self.n_ticks < elapsed * self.rate:
            venue, symbol = next(self.tick_keys)
            self.n_ticks += 1
            price = SYMBOLS[symbol][0]
            self._produce("PriceTick", topics.TICKS, f"{venue}:{symbol}", event_id=f"{venue}:{symbol}:{self.n_ticks}",
                          event_time=now_us, venue=venue, symbol=symbol, bid=price, ask=price + 0.5, last=price,
                          sequence=self.n_ticks, backfill_id=None)
        while self.n_orders < elapsed * self.orders:
            venue, symbol = next(self.order_keys)
            self.n_orders += 1
            coid = f"o{self.n_orders}"
            price, quantity = SYMBOLS[symbol]
            self.sent[coid] = time.time()
            self._produce("OrderSubmitted", topics.ORDERS, f"{venue}:{symbol}", event_id=f"{coid}:submitted",
                          event_time=now_us, account="mm-1", venue=venue, symbol=symbol, client_order_id=coid,
                          side="BUY", order_type="LIMIT", price=f"{price:.2f}", quantity=quantity, reduce_only=False,
                          strategy="bench")
        if now >= self.next_probe:
            self.next_probe += 1
            for venue in VENUES:
                self._produce("VenueHealth", topics.VENUE_HEALTH, venue, event_id=f"{venue}:ping:{now_us}",
                              event_time=now_us, venue=venue, latency_ms=20.0, ok=True, error=None)
        self.producer.poll(0)

    def run_until(self, done: Any, timeout_s: float) -> None:
        """Produces until ``done()`` (asked every 0.5 s) is true."""
        deadline = time.time() + timeout_s
        next_check = time.time() + 0.5
        while True:
            self.step()
            if time.time() >= next_check:
                next_check += 0.5
                if done():
                    return
                if time.time() > deadline:
                    raise TimeoutError(f"not ready in {timeout_s:.0f} s")
            time.sleep(0.0005)

    def run_for(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            self.step()
            time.sleep(0.0005)
        self.producer.flush(10)


def group_members(s: Settings) -> int:
    """Members of the risk group when it is stable (0 otherwise)."""
    admin = AdminClient(admin_config(s))
    gid = group_id(s, "risk")
    description = admin.describe_consumer_groups([gid])[gid].result(10)
    return len(description.members) if description.state == ConsumerGroupState.STABLE else 0


def phase(run: Run, name: str, workers: int, rate: int, orders: int, seconds: float, drain_s: float) -> dict[str, Any]:
    s = run.phase(name, tuple(dataclasses.replace(topic(t), partitions=PARTITIONS) for t in INPUTS) + (RAW_OUT,),
                  risk=day_config())
    risk = {"MERCADO_RISK": s.risk.model_dump_json()}  # the generated day's limits, in every process
    if workers:
        out_topic = topics.DECISIONS
        procs = [run.start(s, ["streams.commands.cli", "worker", "--pipeline", "risk"],
                           {**risk, "MERCADO_WORKER__ID": f"w{i}"}, f"{name}-w{i}") for i in range(workers)]
    else:  # the raw echo of the orders topic
        out_topic = RAW_OUT.name
        procs = [run.start(s, ["bench.raw_echo", "--source", s.topic(topics.ORDERS), "--out", s.topic(RAW_OUT.name),
                               "--group", f"{s.kafka.topic_prefix}bench-raw-echo"], risk, name)]
    reader = Reader(s, out_topic)
    reader.start()
    feed = Feed(s, rate, orders)
    load = os.getloadavg()[0]
    try:
        spawned = time.time()

        def ready() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"[{name}] a process exited with {proc.returncode}; logs in {run.logs}")
            if workers and group_members(s) != workers:
                return False
            recent = [c for c, t in feed.sent.items() if spawned < t < time.time() - 1]
            return len(recent) >= orders // 2 and all(c in reader.arrived for c in recent[-orders:])

        feed.run_until(ready, 180)
        ready_s = time.time() - spawned
        first = feed.n_orders
        feed.run_for(seconds)
        measured = [f"o{i}" for i in range(first + 1, feed.n_orders + 1)]
        deadline = time.time() + drain_s
        while time.time() < deadline and not all(c in reader.arrived for c in measured):
            time.sleep(0.1)
    finally:
        reader.stop.set()
        reader.join(5)
        for proc in procs:
            stop_group(proc, 20)
    latencies = [(reader.arrived[c] - feed.sent[c]) * 1000 for c in measured if c in reader.arrived]
    missing = len(measured) - len(latencies)
    if not latencies:
        raise RuntimeError(f"[{name}] no decision came back")
    out = {
        "config": name, "workers": workers, "orders": len(measured), "missing": missing,
        "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1), "ready_s": round(ready_s, 1), "load_avg_1m": round(load, 2),
        "ticks_per_s": rate, "orders_per_s": orders, "seconds": seconds,
    }
    log(f"[{name}] {len(measured):,} orders over {seconds:.0f} s ({rate:,} ticks/s, {orders}/s orders): "
        f"p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms, {missing} missing; "
        f"ready after {ready_s:.1f} s; load average {load:.1f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,3", help="comma-separated worker counts, one phase each")
    parser.add_argument("--rate", type=int, default=600, help="ticks/s over the six keys")
    parser.add_argument("--orders", type=int, default=50, help="orders/s over the six keys")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per phase")
    parser.add_argument("--drain-s", type=float, default=10.0)
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    run = Run(get_settings(), "risklive", ("mercado-risk", "bench-raw-echo", "bench-reader"))
    try:
        baseline = phase(run, "raw-echo", 0, args.rate, args.orders, args.seconds, args.drain_s)
        phases = [phase(run, f"workers-{n}", n, args.rate, args.orders, args.seconds, args.drain_s) for n in counts]
    finally:
        if not args.keep_topics:
            run.cleanup()
    last = phases[-1]
    result("risk_live", last["p99_ms"], baseline["p99_ms"], "ms p99 order->decision",
           p50_ms=last["p50_ms"], workers=last["workers"], baseline_p50_ms=baseline["p50_ms"],
           merge_idle_ms=get_settings().worker.merge_idle_ms, phases=[baseline, *phases])


if __name__ == "__main__":
    main()
