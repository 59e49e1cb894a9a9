"""``python -m bench.scanner``: the scanner's snapshot → board + deltas latency, through Kafka, and the
database rows it writes per day.

1. In process: ``--tickers`` (5,000) synthetic tickers (seeded random walks, growing volumes) in one
   scanner's snapshots every 10 s of a regular session; each snapshot through
   :class:`processors.scanner.ScannerProcessor` (filters, eight categories scored and ranked, deltas,
   changed results and tombstones, alerts, the summary). p50/p99 wall-clock ms per snapshot, after a
   warm-up, next to a raw baseline in the same run: numpy over the same snapshot (the same columns out of
   the rows, the same features, ``argsort`` of each category's score into the same top lists).
   Target (issue #21): p99 <= 20 ms; the seed's cycle was 177 ms. Also in thread CPU time (what the
   processor spends, without the time a busy machine preempts it).
2. Through Kafka (skipped with ``--no-kafka``): a ``mercado worker --pipeline scanner`` on fresh topics;
   one snapshot of the same universe per second (``--kafka-snapshots``, 60); for each, the time from its
   produce call to the arrival of its ScanBoard (the last output of the snapshot's transaction, so its
   deltas are visible too) at a read_committed consumer. p50/p99 ms.
3. Rows per day: the generated day (``streams.generator``, seed 42: 5,760 snapshots of 50 tickers)
   through the pipeline; ScanTopEntry records (what the sink writes: top N per session and category,
   hourly and at each close) against writing every row of every snapshot (the seed's old design).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from processors import topics
from processors.scanner import ScannerConfig, run_scanner, scanner_pipeline
from tests.support.marketdata import new_york

ROOT = Path(__file__).resolve().parents[1]
STEP_US = 10_000_000


def universe(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tickers = [f"T{i:04d}" for i in range(n)]
    prev_close = np.round(np.exp(rng.uniform(np.log(0.5), np.log(500.0), n)), 2)
    avg_volume = rng.integers(5_000, 5_000_000, n)
    return tickers, prev_close, avg_volume


def snapshots(n_tickers: int, count: int, t0: int, step_us: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` snapshots of the whole universe (wire form)."""
    return list(iter_snapshots(n_tickers, count, t0, step_us, seed))


def iter_snapshots(n_tickers: int, count: int, t0: int, step_us: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """The same snapshots one at a time: a benchmark that held them all would have the garbage collector
    walk millions of row dicts in the measured calls (a worker holds one fetch at a time)."""
    tickers, prev_close, avg_volume = universe(n_tickers, seed)
    rng = np.random.default_rng(seed + 1)
    log_price = np.log(prev_close) + rng.normal(0, 0.03, n_tickers)  # the open's gaps
    volume = np.zeros(n_tickers)
    for k in range(count):
        log_price += rng.normal(0, 0.002, n_tickers)
        volume += avg_volume / 2340 * rng.uniform(0.0, 3.0, n_tickers)
        price = np.maximum(np.round(np.exp(log_price), 2), 0.01)
        change = np.round((price / prev_close - 1) * 100, 2)
        t = t0 + k * step_us
        yield {"event_id": f"bench:{t}", "event_time": t, "scanner": "bench", "session": "REGULAR", "taken_at": t,
               "rows": [
                   {"ticker": tk, "price": p, "prev_close": pc, "change_pct": c, "gap_pct": c, "volume": v,
                    "avg_volume": av, "relative_volume": None, "market_cap": None, "float_shares": None,
                    "high": None, "low": None}
                   for tk, p, pc, c, v, av in zip(tickers, price.tolist(), prev_close.tolist(), change.tolist(),
                                                  volume.astype(np.int64).tolist(), avg_volume.tolist(), strict=True)]}


def raw_top_lists(snapshot: dict[str, Any], k: int) -> dict[str, list[str]]:
    """The baseline: the same snapshot's columns, features and top lists with plain numpy sorts."""
    rows = snapshot["rows"]
    n = len(rows)
    tickers = [r["ticker"] for r in rows]
    price = np.fromiter((r["price"] for r in rows), float, n)
    prev_close = np.fromiter((r["prev_close"] for r in rows), float, n)
    volume = np.fromiter((r["volume"] for r in rows), float, n)
    avg_volume = np.fromiter((r["avg_volume"] for r in rows), float, n)
    change = (price / prev_close - 1) * 100
    rvol = volume / np.maximum(avg_volume, 1)
    log_volume = np.log10(1 + volume)
    passed = (price >= 1.0) & (volume >= 10_000)
    lists = {}
    for name, score, mask in (("top_gainers", change, change > 0), ("top_losers", -change, change < 0),
                              ("gappers_up", change, change > 2), ("gappers_down", -change, change < -2),
                              ("unusual_volume", rvol, rvol > 2), ("most_active", log_volume, passed),
                              ("momentum", change, change > 0), ("new_lows", -change, change < 0)):
        idx = np.flatnonzero(passed & mask)
        lists[name] = [tickers[j] for j in idx[np.argsort(-score[idx], kind="stable")[:k]]]
    return lists


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else 0.0


def in_process(n_tickers: int, count: int, warmup: int) -> dict[str, float]:
    config = ScannerConfig()
    t0 = new_york("2026-11-20 10:00:00")
    snaps = iter_snapshots(n_tickers, count + warmup, t0, STEP_US)
    proc = scanner_pipeline(config).create("bench")
    gc.freeze()  # as the live worker does once it is set up (streams/engines/native.py)
    ours: list[float] = []
    raw: list[float] = []
    ours_cpu: list[float] = []
    raw_cpu: list[float] = []
    outputs = 0
    for i, snap in enumerate(snaps):
        cpu, started = time.thread_time(), time.perf_counter()
        raw_top_lists(snap, config.board_size)
        raw_ms, raw_cpu_ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        cpu, started = time.thread_time(), time.perf_counter()
        outputs += len(proc.on_event("ScanSnapshot", snap))
        ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        if i >= warmup:
            ours.append(ms)
            raw.append(raw_ms)
            ours_cpu.append(cpu_ms)
            raw_cpu.append(raw_cpu_ms)
    state_bytes = len(orjson.dumps(proc.snapshot()))
    return {"p50_ms": percentile(ours, 50), "p99_ms": percentile(ours, 99), "raw_p50_ms": percentile(raw, 50),
            "raw_p99_ms": percentile(raw, 99), "cpu_p50_ms": percentile(ours_cpu, 50),
            "cpu_p99_ms": percentile(ours_cpu, 99), "raw_cpu_p99_ms": percentile(raw_cpu, 99),
            "outputs_per_snapshot": outputs / (count + warmup),
            "state_bytes": state_bytes}


def through_kafka(n_tickers: int, count: int) -> dict[str, float]:
    from confluent_kafka import Consumer, Producer

    from bench.common import delete_run_topics
    from streams.config import Settings
    from streams.kafka.admin import ensure_topics
    from streams.kafka.clients import consumer_config, producer_config
    from streams.kafka.consumer import default_serde
    from streams.kafka.headers import PRODUCED_AT_HEADER

    prefix = f"bench.scanner.{time.time_ns() % 10**10}."
    settings = Settings().with_(kafka__topic_prefix=prefix)
    ensure_topics(settings)
    serde = default_serde(settings)
    t0 = new_york("2026-12-04 10:00:00")  # a past regular session: event times stay behind the wall clock
    snaps = snapshots(n_tickers, count + 5, t0, 1_000_000)
    encoded = [serde.encode("ScanSnapshot", s, topics.SCAN_SNAPSHOTS) for s in snaps]
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": prefix, "MERCADO_METRICS__PORT_WORKER": "0"}
    worker = subprocess.Popen([sys.executable, "-m", "streams.commands.cli", "worker", "--pipeline", "scanner"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    consumer = Consumer(consumer_config(settings, f"{prefix}bench-reader"))
    consumer.subscribe([settings.topic(topics.SCAN_BOARDS)])
    producer = Producer(producer_config(settings, **{"linger.ms": 0, "message.max.bytes": 8_000_000}))
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 60
        # warm-up: the first snapshots (the worker's start, the consumer's assignment) are not counted
        for i, (snap, value) in enumerate(zip(snaps, encoded, strict=True)):
            next_at = time.monotonic() + 1.0
            stamp = str(time.time_ns() // 1000).encode()
            producer.produce(settings.topic(topics.SCAN_SNAPSHOTS), value, b"bench",
                             headers=[(PRODUCED_AT_HEADER, stamp)], timestamp=snap["event_time"] // 1000)
            producer.flush(10)
            sent[snap["event_id"]] = time.perf_counter()
            while time.monotonic() < (next_at if i >= 5 else deadline):
                for msg in consumer.consume(100, 0.05):
                    if msg.error() is None and msg.value() is not None:
                        seen.setdefault(serde.decode(msg.value())[1]["snapshot_event_id"], time.perf_counter())
                if i < 5 and snap["event_id"] in seen:
                    break
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}")
        end = time.monotonic() + 10
        while time.monotonic() < end and not all(s["event_id"] in seen for s in snaps):
            for msg in consumer.consume(100, 0.1):
                if msg.error() is None and msg.value() is not None:
                    seen.setdefault(serde.decode(msg.value())[1]["snapshot_event_id"], time.perf_counter())
    finally:
        worker.terminate()
        worker.wait(30)
        consumer.close()
        delete_run_topics(settings, [prefix], [f"{prefix}mercado-scanner", f"{prefix}bench-reader"])
    lat = [(seen[s["event_id"]] - sent[s["event_id"]]) * 1000 for s in snaps[5:] if s["event_id"] in seen]
    return {"kafka_p50_ms": percentile(lat, 50), "kafka_p99_ms": percentile(lat, 99), "kafka_snapshots": len(lat),
            "kafka_missing": count - len(lat)}


def rows_per_day(seed: int) -> dict[str, int]:
    from schemas.loader import load_schemas
    from streams.codec.coerce import record_coercer
    from streams.generator import generate_day

    coerce = record_coercer(load_schemas()["ScanSnapshot"])
    with tempfile.TemporaryDirectory() as tmp:
        generate_day(Path(tmp), seed, date(2026, 11, 20), domains=("scanner",))
        path = Path(tmp) / f"{topics.SCAN_SNAPSHOTS}.jsonl"
        snaps = [coerce(orjson.loads(line)) for line in path.read_bytes().splitlines()]
    out = run_scanner(snaps)
    return {"rows_per_day": sum(e.topic == topics.SCAN_TOP for e in out),
            "naive_rows_per_day": sum(len(s["rows"]) for s in snaps), "day_snapshots": len(snaps)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=5000)
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--kafka-snapshots", type=int, default=60)
    parser.add_argument("--no-kafka", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    figures: dict[str, Any] = {"bench": "scanner", "tickers": args.tickers}
    figures.update(in_process(args.tickers, args.snapshots, args.warmup))
    print(f"in process, {args.tickers:,} tickers: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms "
          f"per snapshot (raw numpy baseline p50 {figures['raw_p50_ms']:.2f} ms, p99 {figures['raw_p99_ms']:.2f} ms); "
          f"{figures['outputs_per_snapshot']:.0f} outputs per snapshot, state {figures['state_bytes']:,} bytes; "
          f"thread CPU time p50 {figures['cpu_p50_ms']:.2f} ms, p99 {figures['cpu_p99_ms']:.2f} ms "
          f"(baseline p99 {figures['raw_cpu_p99_ms']:.2f} ms)")
    if not args.no_kafka:
        figures.update(through_kafka(args.tickers, args.kafka_snapshots))
        print(f"through Kafka, one snapshot/s: produce -> ScanBoard at a read_committed consumer p50 "
              f"{figures['kafka_p50_ms']:.1f} ms, p99 {figures['kafka_p99_ms']:.1f} ms "
              f"({figures['kafka_snapshots']} snapshots, {figures['kafka_missing']} missing)")
    figures.update(rows_per_day(args.seed))
    print(f"database rows per day: {figures['rows_per_day']:,} (top N per session and category, hourly and at "
          f"closes) vs {figures['naive_rows_per_day']:,} writing every row of the day's "
          f"{figures['day_snapshots']:,} snapshots")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
