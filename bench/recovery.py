"""``python -m bench.recovery``: how fast a crashed worker's partitions work again, and how fast state restores.

Two phases, each on fresh topics (``<prefix>bench.recovery.<run>.<phase>.``, deleted at the end):

**Takeover** (``takeover_s``). Two native market-data workers (``MERCADO_WORKER__ID`` a and b, the
worker settings' session and transaction timeouts) share ``md.ticks.v1`` of six partitions. A feed
produces PriceTicks of ``--keys`` crypto keys at ``--rate`` ticks/s with event time = the wall clock, and
the workers close 1-second bars (``MERCADO_MARKETDATA__INTERVALS_S=[1]``, grace 2 s). A reader thread
(read_committed, as every downstream consumer) stamps each bar's arrival. Once bars of every key flow,
worker a is killed with SIGKILL at wall-clock time K. A bar whose end + grace is at or after K cannot have
been closed before K (a bar closes on the first event at or after its end + grace), so

* ``takeover_s`` = arrival of the first such bar of a key on a's partitions − K: the time until the dead
  worker's partitions produce outputs again (on b, after a's session expired and a's open transaction
  was aborted, before which b can read neither a's offsets nor get its outputs past a's transaction);
* baseline ``flow_s`` = the same for a key on b's partitions: the undisturbed pipeline (the feed's
  spacing, the commit, the reader), measured at the same moment.

``--legacy`` adds a takeover with the old timeouts (librdkafka's 45 s session, 60 s transactions).

**Restore** (``restore_keys_per_s``, ``restore_mb_per_s``, ``state_mb``). A day of market data for
``--symbols`` symbols (one tick per symbol every ``--every-s`` seconds, 60 and 300 s bars and every
indicator, as configured by default) goes through one worker, which is then stopped cleanly; a second
worker with another id starts on the same group and restores the whole changelog before processing.
Its log line "state restored" gives records, bytes, keys and seconds. ``state_mb`` is the state it
ends up with (the latest value of every key). Baseline: a raw confluent-kafka consumer reading the same
changelog partitions from the beginning to the end (the same fetch settings: 10 ms fetch wait), in the
same run (``raw_restore_mb_per_s``). Both include the consumer's start and its end-of-partition round
trips, which dominate at this size.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from bench.common import Run
from infra.processes import stop_group
from processors import topics
from processors.partitioning import partition_of
from streams.config import Settings, get_settings
from streams.engines.live import changelog_topic
from streams.kafka.catalog import topic
from streams.kafka.clients import committed_reader_config, consumer_config
from streams.kafka.consumer import end_offsets
from tests.support.sink import EventProducer

PARTITIONS = 6
GRACE_S = 2.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def six_ticks() -> tuple:
    """The phase's ticks topic: six partitions, so two workers share it."""
    return (dataclasses.replace(topic(topics.TICKS), partitions=PARTITIONS),)


def worker(run: Run, s: Settings, worker_id: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    """A native market-data worker with id ``worker_id``, and its log."""
    proc = run.start(s, ["streams.commands.cli", "worker", "--pipeline", "marketdata"],
                     {"MERCADO_WORKER__ID": worker_id, **env}, worker_id)
    return proc, run.log_path(worker_id)


def assigned(path: Path, prefix: str) -> set[int]:
    """The worker's last logged assignment: its partitions of md.ticks.v1."""
    found: set[int] = set()
    for m in re.finditer(r"partitions assigned\s.*?assigned=(\[[^\]]*\])", path.read_text(errors="replace")):
        found = {int(tp.rpartition(":")[2]) for tp in ast.literal_eval(m.group(1))
                 if tp.rpartition(":")[0] == f"{prefix}{topics.TICKS}"}
    return found


class Feed(threading.Thread):
    """PriceTicks of ``keys`` keys at ``rate`` per second, event time = now."""

    def __init__(self, s: Settings, keys: list[str], rate: int) -> None:
        super().__init__(daemon=True)
        self.producer, self.keys, self.rate = EventProducer(s), keys, rate
        self.stopping = threading.Event()

    def run(self) -> None:
        seq, started = 0, time.monotonic()
        while not self.stopping.is_set():
            key = self.keys[seq % len(self.keys)]
            venue, _, symbol = key.partition(":")
            seq += 1
            self.producer.send(topics.TICKS, "PriceTick", {
                "event_id": f"recovery:{seq}", "event_time": time.time_ns() // 1000, "venue": venue,
                "symbol": symbol, "bid": 99.5, "ask": 100.5, "last": 100.0, "volume": 1.0, "sequence": seq,
                "backfill_id": None,
            }, key=key)
            ahead = seq / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        self.producer.flush()


class BarReader(threading.Thread):
    """Every committed bar: (arrival wall-clock s, key, bar end µs)."""

    def __init__(self, s: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(consumer_config(s, f"bench-recovery-reader-{time.time_ns()}",
                                                 **{"fetch.wait.max.ms": 5, "enable.partition.eof": False}))
        self.consumer.subscribe([s.topic(topics.BARS)])
        self.bars: list[tuple[float, str, int]] = []
        self.stopping = threading.Event()
        from streams.kafka.consumer import default_serde

        self.serde = default_serde(s)

    def run(self) -> None:
        while not self.stopping.is_set():
            for msg in self.consumer.consume(500, 0.05):
                if msg.error() is None:
                    now = time.time()
                    _, rec = self.serde.decode(msg.value())
                    self.bars.append((now, msg.key().decode(), rec["end"]))
        self.consumer.close()


def takeover(run: Run, keys: int, rate: int, env: dict[str, str], name: str) -> dict[str, float]:
    s = run.phase(name, six_ticks())
    names = [f"binance:T{i:03d}/USDT" for i in range(keys)]
    reader = BarReader(s)
    reader.start()
    feed = Feed(s, names, rate)
    feed.start()
    env = {"MERCADO_MARKETDATA__INTERVALS_S": "[1]", **env}
    a, a_log = worker(run, s, "a", env)
    b, b_log = worker(run, s, "b", env)
    prefix = s.kafka.topic_prefix
    try:
        deadline = time.monotonic() + 120
        while True:
            parts_a, parts_b = assigned(a_log, prefix), assigned(b_log, prefix)
            recent = {k for t, k, _ in reader.bars if t > time.time() - 3}
            if parts_a and parts_b and not parts_a & parts_b and recent >= set(names):
                break
            if time.monotonic() > deadline or a.poll() is not None or b.poll() is not None:
                raise RuntimeError(f"the workers did not settle: a {sorted(parts_a)}, b {sorted(parts_b)}, "
                                   f"{len(recent)} of {len(names)} keys with bars; logs {a_log}, {b_log}")
            time.sleep(0.2)
        time.sleep(2)  # steady flow
        killed = time.time()
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(10)
        kill_us = int(killed * 1e6)
        on_a = {k for k in names if partition_of(k, PARTITIONS) in parts_a}

        def first(keys_of: set[str]) -> float | None:
            late = [t for t, k, end in list(reader.bars) if k in keys_of and end + GRACE_S * 1e6 >= kill_us]
            return min(late) - killed if late else None

        deadline = time.monotonic() + 120
        while first(on_a) is None:
            if time.monotonic() > deadline or b.poll() is not None:
                raise RuntimeError(f"no bar of a's keys within 120 s of the kill; log {b_log}")
            time.sleep(0.1)
        took, flow = first(on_a), first(set(names) - on_a)
    finally:
        feed.stopping.set()
        reader.stopping.set()
        for proc in (a, b):
            if proc.poll() is None:
                stop_group(proc, 20)
    log(f"{name}: partitions {sorted(parts_a)} of the killed worker produce again after {took:.2f} s "
        f"(undisturbed keys: {flow:.3f} s)")
    return {"takeover_s": round(took, 2), "flow_s": round(flow or 0.0, 3)}


def produce_state_day(s: Settings, symbols: int, every_s: int, day: int = 0) -> int:
    """A day of ticks for ``symbols`` crypto symbols (2026-11-20 + ``day``, 24/7 calendar), in event-time order."""
    import datetime as dt

    producer = EventProducer(s)
    t0 = int(dt.datetime(2026, 11, 20 + day, tzinfo=dt.UTC).timestamp() * 1_000_000)
    n = 0
    for step in range(0, 86_400, every_s):
        for i in range(symbols):
            n += 1
            price = 100.0 + (step // every_s + i) % 17
            producer.send(topics.TICKS, "PriceTick", {
                "event_id": f"state:{day}:{n}", "event_time": t0 + step * 1_000_000 + i, "venue": "binance",
                "symbol": f"S{i:04d}/USDT", "bid": price - 0.5, "ask": price + 0.5, "last": price, "volume": 1.0,
                "sequence": n, "backfill_id": None,
            })
    producer.flush()
    return n


def raw_read(s: Settings, name: str) -> tuple[int, int, float, int]:
    """(records, bytes, seconds, bytes of the latest value per key) reading a topic from the beginning."""
    ends = end_offsets(s, [name])
    c = Consumer(consumer_config(s, f"bench-recovery-raw-{time.time_ns()}",
                                 **{"enable.partition.eof": True, "fetch.wait.max.ms": 10}))
    c.assign([TopicPartition(name, p, OFFSET_BEGINNING) for (_t, p), end in ends.items() if end > 0])
    remaining = {p for (_t, p), end in ends.items() if end > 0}
    latest: dict[bytes, int] = {}
    records = size = 0
    started = time.perf_counter()
    while remaining:
        for msg in c.consume(1000, 0.5):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(msg.partition())
                continue
            key, value = msg.key() or b"", msg.value()
            records += 1
            size += len(key) + len(value or b"")
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = len(key) + len(value)
    seconds = time.perf_counter() - started
    c.close()
    return records, size, seconds, sum(latest.values())


def restore(run: Run, symbols: int, every_s: int) -> dict[str, float]:
    s = run.phase("restore", six_ticks())
    started = time.perf_counter()
    n = produce_state_day(s, symbols, every_s)
    log(f"restore: produced a day of {n:,} ticks for {symbols} symbols in {time.perf_counter() - started:.1f} s")
    ends = end_offsets(s, [s.topic(topics.TICKS)])
    group = Consumer(committed_reader_config(s, f"{s.kafka.topic_prefix}mercado-marketdata"))
    first, first_log = worker(run, s, "first", {})
    deadline = time.monotonic() + 240
    while sum(max(tp.offset, 0) for tp in group.committed([TopicPartition(t, p) for t, p in ends], timeout=10)) < n:
        if time.monotonic() > deadline or first.poll() is not None:
            raise RuntimeError(f"the first worker did not finish the day; log {first_log}")
        time.sleep(0.5)
    group.close()
    stop_group(first, 20)
    log(f"restore: the first worker processed the day in {time.perf_counter() - started:.1f} s (with the produce)")
    second, second_log = worker(run, s, "second", {})
    deadline = time.monotonic() + 120
    while not (found := RESTORED.findall(second_log.read_text(errors="replace"))):
        if time.monotonic() > deadline or second.poll() is not None:
            raise RuntimeError(f"the second worker did not restore; log {second_log}")
        time.sleep(0.2)
    stop_group(second, 20)
    size, keys, records, seconds = (sum(float(f[i]) for f in found) for i in range(4))
    changelog = changelog_topic(s, "marketdata", "marketdata")
    raw_records, raw_size, raw_seconds, state = raw_read(s, changelog)
    log(f"restore: {records:,.0f} changelog records ({size / 1e6:.1f} MB) -> {keys:,.0f} keys in {seconds:.2f} s; "
        f"raw read of the same {raw_records:,} records: {raw_seconds:.2f} s")
    return {
        "restore_keys_per_s": round(keys / seconds), "restore_records_per_s": round(records / seconds),
        "restore_mb_per_s": round(size / 1e6 / seconds, 1), "state_mb": round(state / 1e6, 1),
        "changelog_mb": round(size / 1e6, 1), "restore_s": round(seconds, 2),
        "raw_restore_mb_per_s": round(raw_size / 1e6 / raw_seconds, 1), "raw_restore_s": round(raw_seconds, 2),
        "symbols": symbols, "ticks": n,
    }


RESTORED = re.compile(r"state restored\s.*?bytes=(\d+).*?keys=(\d+).*?records=(\d+).*?seconds=([\d.]+)")


def history(run: Run, days: int, symbols: int, every_s: int, segment_ms: int, cleaner_wait_s: float) -> dict[str, Any]:
    """Restore as the changelog's history grows: ``days`` days, each processed by a new worker (the same
    id, so it takes the group's partitions), which first restores what the days before left. The
    changelog is created by the worker with the kafka settings' changelog configs, its segments rolled
    every ``segment_ms`` (the default is an hour; a bench of minutes needs seconds) so the broker's
    cleaner compacts closed segments between the days. Each round reports the records the restore read
    next to every record the changelog was ever written (what a restore reads without compaction)."""
    s = run.phase("history", six_ticks())
    # commits every 20 ms: a day's backlog then writes each key's state many times, as a live day does
    env = {"MERCADO_KAFKA__CHANGELOG_SEGMENT_MS": str(segment_ms), "MERCADO_WORKER__COMMIT_INTERVAL_S": "0.02"}
    changelog = changelog_topic(s, "marketdata", "marketdata")
    ticks_end = end_offsets(s, [s.topic(topics.TICKS)])
    rounds: list[dict[str, float]] = []
    produced = 0
    for day in range(days + 1):  # the last round only restores
        if day < days:
            produced += produce_state_day(s, symbols, every_s, day)
        proc, path = worker(run, s, f"history-{day}", env)
        deadline = time.monotonic() + 120
        while not (found := RESTORED.findall(path.read_text(errors="replace"))):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the worker did not restore; log {path}")
            time.sleep(0.2)
        size, keys, records, seconds = (sum(float(f[i]) for f in found) for i in range(4))
        written = sum(end_offsets(s, [changelog]).values()) if day else 0
        rounds.append({"days_before": day, "written_records": written, "restore_records": records,
                       "restore_mb": round(size / 1e6, 2), "restore_s": round(seconds, 2), "keys": keys})
        log(f"history: after {day} day(s) the changelog holds {written:,} writes; the restore read "
            f"{records:,.0f} records ({size / 1e6:.1f} MB) -> {keys:,.0f} keys in {seconds:.2f} s")
        if day < days:
            group = Consumer(committed_reader_config(s, f"{s.kafka.topic_prefix}mercado-marketdata"))
            ticks_end = end_offsets(s, [s.topic(topics.TICKS)])
            deadline = time.monotonic() + 300
            while sum(max(tp.offset, 0) for tp in group.committed(
                    [TopicPartition(t, p) for t, p in ticks_end], timeout=10)) < produced:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the worker did not finish day {day}; log {path}")
                time.sleep(0.5)
            group.close()
        stop_group(proc, 20)
        if day < days:
            time.sleep(cleaner_wait_s)  # the broker's cleaner runs every log.cleaner.backoff.ms (15 s)
    first, last = rounds[1], rounds[-1]
    return {
        "history_days": days, "history_rounds": rounds,
        "history_written_growth": round(last["written_records"] / first["written_records"], 2),
        "history_restore_growth": round(last["restore_records"] / first["restore_records"], 2),
        "history_restore_s_last": last["restore_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=60, help="keys of the takeover feed")
    parser.add_argument("--rate", type=int, default=600, help="ticks/s of the takeover feed")
    parser.add_argument("--symbols", type=int, default=500, help="symbols of the restored day")
    parser.add_argument("--every-s", type=int, default=300, help="seconds between two ticks of a symbol")
    parser.add_argument("--legacy", action="store_true", help="also a takeover with the old timeouts (45 s, 60 s)")
    parser.add_argument("--history-days", type=int, default=4, help="days of the restore-vs-history phase (0: skip)")
    parser.add_argument("--history-symbols", type=int, default=200, help="symbols of the restore-vs-history days")
    parser.add_argument("--segment-ms", type=int, default=2_000, help="changelog segment.ms of the history phase")
    parser.add_argument("--cleaner-wait-s", type=float, default=20.0, help="pause between two history days")
    parser.add_argument("--only", choices=("takeover", "restore", "history"), help="run one phase only")
    args = parser.parse_args()
    settings = get_settings()
    run = Run(settings, "recovery", ("mercado-marketdata",))
    out: dict[str, Any] = {"bench": "recovery"}
    try:
        if args.only in (None, "takeover"):
            out.update(takeover(run, args.keys, args.rate, {}, "takeover"))
            out["session_timeout_ms"] = settings.worker.session_timeout_ms
            out["transaction_timeout_ms"] = settings.worker.transaction_timeout_ms
        if args.legacy and args.only in (None, "takeover"):
            legacy = takeover(run, args.keys, args.rate, {"MERCADO_WORKER__SESSION_TIMEOUT_MS": "45000",
                                                          "MERCADO_WORKER__HEARTBEAT_INTERVAL_MS": "3000",
                                                          "MERCADO_WORKER__TRANSACTION_TIMEOUT_MS": "60000"},
                              "legacy")
            out["legacy_takeover_s"] = legacy["takeover_s"]
        if args.only in (None, "restore"):
            out.update(restore(run, args.symbols, args.every_s))
        if args.history_days and args.only in (None, "history"):
            out.update(history(run, args.history_days, args.history_symbols, args.every_s, args.segment_ms,
                               args.cleaner_wait_s))
    finally:
        run.cleanup()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
