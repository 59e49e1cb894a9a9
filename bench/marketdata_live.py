"""``python -m bench.marketdata_live``: the market-data pipeline end to end through Kafka and ``mercado worker``.

Two measurements, each on fresh topics (``<MERCADO_KAFKA__TOPIC_PREFIX>bench.mdlive.<run>.<phase>.``, deleted
at the end together with the run's consumer groups):

**Throughput** (``value`` / ``baseline`` / ``ratio``). The first ``--ticks`` events (PriceTicks and the
Heartbeats between them, ~14 %; "ticks" below counts both, as ``bench.marketdata_replay`` does) of a
generated market day (``streams.generator``, seed 42, 2026-11-20: the crypto and USD/COP feeds) are
produced to ``md.ticks.v1`` with ``mercado produce``'s :class:`~streams.ingest.producer.FileProducer` before
anything is timed. Both sides then run on the same single core (``taskset -c <core>`` for the worker,
``os.sched_setaffinity`` for the baseline, librdkafka's threads included); the benchmark's own polling
runs on the other core(s).

* Baseline: a raw confluent-kafka loop (project producer/consumer settings: read_committed,
  idempotent producer, lz4, linger 5 ms) that consumes the topic from the beginning, decodes every
  message with fastavro ``schemaless_reader`` exactly as the project's serde does (single-object
  header lookup, wire schema with integer timestamps, no reader schema) and produces one
  fastavro-encoded record per input (the decoded record re-encoded with its header) to an output
  topic, keyed like the input. Timed from the first message received to the end of ``flush()``. No
  processing, no state, no transactions. Run before and after the worker; the faster run counts.
* Mercado (``value``): ``mercado worker --pipeline marketdata --engine <--engine>`` as a subprocess
  (default engine ``native``; exactly-once: outputs + state changelog + offsets in one transaction per
  ``worker_commit_interval_s``). The group's
  committed offsets on ``md.ticks.v1`` are polled every 0.1 s. ``value`` = ticks committed between the
  first poll that sees any committed progress and the poll that sees the end of the topic, divided by
  the time between those two polls: the worker's steady rate, excluding process start-up, the
  group join and state recovery, and the first commit interval. ``total_rate`` (ticks / time from
  spawning the process to the end) includes all of that and is reported next to it; so are the
  CPU-second rates of both sides (``value_cpu``, ``baseline_cpu``), which are less sensitive to the
  shared machine.

**Latency** (``p50_ms`` / ``p99_ms``). A fresh worker (same core pinning) is started with 1- and
5-second bars (``MERCADO_MARKETDATA__INTERVALS_S=[1,5]``; the default 60/300 s bars would close only
once or twice in a run of this length) and the default grace (``grace_ms``). Once it has consumed and
committed a warm-up Heartbeat per key, the benchmark produces PriceTicks at a steady ``--rate`` (10,000
ticks/s) for ``--latency-s`` seconds (60: ~800 bars, so p99 is not one bad second's), round-robin over
``--keys`` crypto keys (12 venue:symbol keys on the 24/7 calendar; the worker saves a snapshot of every
key a batch touched, so its cost grows with the keys per batch), each with ``event_time`` = wall-clock
now in µs, plus one Heartbeat per key every 0.5 s. A consumer thread reads ``md.bars.v1`` with
``isolation.level=read_committed`` (``fetch.wait.max.ms=5``) and stamps the wall-clock time each Bar is
received. A bar of [start, end) can close, at the earliest, when an event of its key with ``event_time
>= end + grace`` exists; since event times are the wall clock at produce time, that is wall-clock ``end
+ grace``. So:

* ``from closing event`` = receive time − produce time of the key's first event with ``event_time >= end
  + grace`` (the one that closed it): the issue's "latency from tick produce to bar-close output", beyond
  the grace period. ``p50_ms``/``p99_ms``.
* ``beyond grace`` = receive time − (bar end + grace): from the earliest wall-clock moment the bar could
  close. The same but for the per-key tick spacing (1.2 ms at 10,000 ticks/s over 12 keys), unless the
  feed loop itself paused: then the bar before the pause could close only when the feed resumed, and
  the pause counts here but not above. Pauses of the feed loop over 50 ms (``feed_stalls``,
  ``feed_max_stall_ms``) and the machine's CPU steal time (``machine_steal_s``, from /proc/stat) are
  reported for that reason.
* ``uncommitted`` (diagnostic): from the closing event to a second consumer with ``read_uncommitted``,
  which sees a bar as soon as the worker wrote it, before its transaction commits; the difference to
  ``p50_ms`` is what waiting for and running the commit costs.

The bars counted are those whose interval holds a PriceTick of their key (an interval without one is a
Gap, not a Bar) and whose ``end + grace`` falls between 1 s after the stream started and the last event
of their key; missing ones are reported. Latency includes the feed producer's linger, the worker's
fetch, processing and transaction commit (outputs are invisible to read_committed consumers until the
commit: at the live edge the native engine commits ``worker_live_commit_interval_s`` (5 ms) after a
transaction's first output, faust every
``worker_commit_interval_s``), the broker's own pauses (its GC) and the consumer's fetch. It runs with
the project defaults (commit interval 0.1 s, producer linger 5 ms) ``--rounds`` times (default 2, each
with a fresh worker: one round's p99 is mostly its worst second on a shared machine); ``p50_ms`` and
``p99_ms`` are the worst round's. With ``--low-latency-round`` (the default for ``--engine faust``, whose
latency follows the commit interval) it also runs what a user would try for lower latency
(``MERCADO_WORKER__COMMIT_INTERVAL_S=0.01``, ``MERCADO_KAFKA__PRODUCER_LINGER_MS=1`` for the feed), reported as
``p50_ms_low_latency``/``p99_ms_low_latency``, with ``commit_interval_dominates_p99`` true when cutting
the commit interval tenfold at least halves p99. A worker that cannot keep up with ``--rate`` (backlog
above one second of input when the feed stops, or bars still missing ``--drain-s`` after it) makes
latency grow with the backlog: the figures at ``--rate`` are still reported (a bar that never arrived
counts as infinitely late; p99 is then null), ``kept_up`` is false, and the defaults are measured again
at ``--sustainable-rate`` (default 1,000 ticks/s). ``latency`` holds every round.

The last line is the JSON result (``bench``, ``value``, ``baseline``, ``ratio``, ...); progress goes to
stderr. Needs the services of ``mercado up`` (or ``MERCADO_KAFKA_BOOTSTRAP``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.common import delete_run_topics, result
from bench.raw_echo import RawCodec, fetch
from infra.processes import stop_group
from processors import topics
from processors.marketdata.records import OUTPUT_TOPICS
from streams.codec.serde import AvroSerde
from streams.config import Settings, get_settings
from streams.kafka.catalog import TopicSpec, topic
from streams.kafka.clients import admin_config, committed_reader_config, consumer_config, producer_config

ROOT = Path(__file__).resolve().parent.parent
TICKS = topics.TICKS
BARS = topics.BARS
MD_TOPICS = (topics.TICKS, *OUTPUT_TOPICS, topics.DEAD_LETTERS)
RAW_OUT = TopicSpec("bench.raw-out.v1", ("PriceTick", "Heartbeat"), ("venue", "symbol"), "baseline output")
VENUES = ("binance", "kraken", "coinbase")
SYMBOLS = (
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "XRP/USDT",
    "ADA/USDT",
    "DOGE/USDT",
    "DOT/USDT",
    "LTC/USDT",
    "LINK/USDT",
    "AVAX/USDT",
)
HEARTBEAT_EVERY_S = 0.5
WARMUP_S = 1.0
FEED_STALL_S = 0.05  # a pause of the feed loop longer than this is reported


def machine_steal_s() -> float:
    """CPU time the hypervisor gave to other guests (``steal`` of /proc/stat, all CPUs), in seconds; 0
    where there is no such counter."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(msg: str) -> None:
    if sys.stderr.isatty():
        print("\r\033[K" + msg, end="", file=sys.stderr, flush=True)


def end_progress() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)


def worker_batch_within_s() -> float | None:
    """How long the worker's agent waits to fill a batch (``create_app(batch_within_s=...)``)."""
    import inspect

    try:
        from streams.engines.faust_engine import create_app

        return inspect.signature(create_app).parameters["batch_within_s"].default
    except (ImportError, KeyError):
        return None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


# --------------------------------------------------------------------------- run-scoped resources
class Run:
    """Everything a run creates (worker processes, topic prefixes, groups), undone by :meth:`cleanup`."""

    def __init__(self, settings: Settings, keep_topics: bool, engine: str | None = None):
        self.settings = settings
        self.engine = engine or settings.worker.engine
        self.keep_topics = keep_topics
        self.stamp = time.strftime("%Y%m%d%H%M%S")
        self.procs: list[subprocess.Popen] = []
        self.prefixes: list[str] = []
        self.groups: list[str] = []
        self.log_path = settings.local.state_dir / "logs" / "bench-marketdata-live-worker.log"
        self.all_cores = sorted(os.sched_getaffinity(0))
        self.worker_core = self.all_cores[0]
        self.other_cores = set(self.all_cores[1:]) or {self.worker_core}

    def phase(self, name: str, **overrides: Any) -> Settings:
        prefix = f"{self.settings.kafka.topic_prefix}bench.mdlive.{self.stamp}.{name}."
        self.prefixes.append(prefix)
        s = self.settings.with_({"kafka__topic_prefix": prefix, **overrides})
        from streams.kafka.admin import ensure_topics

        ensure_topics(s, tuple(topic(t) for t in MD_TOPICS) + (RAW_OUT,))
        self.groups.append(f"{prefix}mercado-marketdata")
        return s

    def start_worker(self, s: Settings, env: dict[str, str]) -> subprocess.Popen:
        return self.start_process(s, env, [sys.executable, "-m", "streams.commands.cli", "worker", "--pipeline",
                                           "marketdata"])

    def start_process(self, s: Settings, env: dict[str, str], cmd: list[str]) -> subprocess.Popen:
        """``cmd`` pinned to the worker's core, with the phase's topic prefix; its stderr goes to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "MERCADO_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix,
            "MERCADO_METRICS__PORT_WORKER": "0",
            "MERCADO_WORKER__ENGINE": self.engine,
            **env,
        }
        core = self.worker_core
        preexec: Callable[[], None] | None = None
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(core), *cmd]
        else:

            def preexec() -> None:
                os.sched_setaffinity(0, {core})

        with self.log_path.open("ab") as fh:
            prefix = s.kafka.topic_prefix
            fh.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(cmd)} prefix={prefix} {env}\n".encode())
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
            start_new_session=True,
            preexec_fn=preexec,
        )
        self.procs.append(proc)
        return proc

    def stop_worker(self, proc: subprocess.Popen) -> None:
        stop_group(proc, 20)

    def worker_failed(self, proc: subprocess.Popen) -> RuntimeError:
        tail = ""
        try:
            tail = "".join(self.log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        except OSError:
            pass
        return RuntimeError(f"the worker exited with code {proc.returncode}; log {self.log_path}:\n{tail}")

    def cleanup(self) -> None:
        for proc in self.procs:
            self.stop_worker(proc)
        if self.keep_topics or not self.prefixes:
            return
        try:
            names = delete_run_topics(self.settings, self.prefixes, list(self.groups))
            log(f"cleanup: deleted {names} topics and the run's consumer groups")
        except Exception as exc:  # cleanup must not hide the run's own error
            log(f"cleanup: could not delete the bench topics ({exc}); prefixes {self.prefixes}")
        for prefix in self.prefixes:  # faust's data dir of the app (store is memory://, dir may exist)
            faust_dir = self.settings.local.state_dir / "faust"
            shutil.rmtree(faust_dir / f"{prefix}mercado-marketdata-data", ignore_errors=True)


def check_services(settings: Settings) -> None:
    try:
        AdminClient({**admin_config(settings), "log_level": 0}).list_topics(timeout=5)
    except KafkaException as exc:
        raise SystemExit(
            f"error: Kafka at {settings.bootstrap()} is not reachable ({exc.args[0].str()}); "
            "start the services with `mercado up` or set MERCADO_KAFKA_BOOTSTRAP"
        ) from None


def committed_total(c: Consumer, tps: list[TopicPartition]) -> int:
    """The group's committed offsets summed (a broker just started is waited for)."""
    from streams.kafka.consumer import when_ready

    return sum(max(tp.offset, 0) for tp in when_ready(lambda: c.committed(tps, timeout=10), 60))


def end_total(s: Settings, name: str) -> tuple[list[TopicPartition], int]:
    from streams.kafka.consumer import end_offsets

    ends = end_offsets(s, [s.topic(name)])
    return [TopicPartition(t, p) for t, p in ends], sum(ends.values())


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all threads), from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- throughput
def produce_day(s: Settings, n: int, seed: int, day: dt.date) -> int:
    from streams.generator import generate_day
    from streams.ingest.producer import FileProducer

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        generate_day(Path(tmp), seed, day)
        src = Path(tmp) / f"{TICKS}.jsonl"
        part = Path(tmp) / "part.jsonl"
        with src.open("rb") as fin, part.open("wb") as fout:
            fout.writelines(itertools.islice(fin, n))
        report = FileProducer(s, TICKS).produce_file(part)
    log(
        f"generated {day} (seed {seed}) and produced {report.produced:,} events in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return report.produced


def raw_loop(s: Settings, total: int, core: int) -> tuple[float, float]:
    """The baseline on one core: (ticks/s wall, ticks per CPU-second of the process)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})  # threads created from here on (librdkafka's) inherit it
    try:
        reencode = RawCodec().reencode
        source = s.topic(TICKS)
        out = s.topic(RAW_OUT.name)
        group = f"{s.kafka.topic_prefix}bench-raw-{time.time_ns()}"
        consumer = Consumer(consumer_config(s, group))
        producer = Producer(producer_config(s))
        parts = consumer.list_topics(source, timeout=10).topics[source].partitions
        consumer.assign([TopicPartition(source, p, OFFSET_BEGINNING) for p in parts])
        n = 0
        first = 0.0
        cpu0 = 0.0
        produce = producer.produce
        while n < total:
            for msg in consumer.consume(1000, 1.0):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consumer error: {msg.error().str()}")
                if not n:
                    first, cpu0 = time.perf_counter(), time.process_time()
                value = reencode(msg.value())
                try:
                    produce(out, value, msg.key())
                except BufferError:
                    producer.poll(0.05)
                    produce(out, value, msg.key())
                n += 1
            producer.poll(0)
        assert producer.flush(60) == 0
        wall, cpu = time.perf_counter() - first, time.process_time() - cpu0
        consumer.close()
        return n / wall, n / cpu
    finally:
        os.sched_setaffinity(0, before)


def logged_baseline(run: Run, s: Settings, total: int) -> tuple[float, float]:
    """The raw loop's rate (ticks/s, ticks per CPU-s) on the worker's core, logged."""
    log(f"baseline (raw confluent-kafka + fastavro loop) on core {run.worker_core}…")
    rate, cpu_rate = raw_loop(s, total, run.worker_core)
    log(f"  {rate:,.0f} ticks/s ({cpu_rate:,.0f} per CPU-s)")
    return rate, cpu_rate


def worker_throughput(run: Run, s: Settings, total: int, timeout_s: float) -> dict[str, float]:
    os.sched_setaffinity(0, run.other_cores)  # keep the poller off the worker's core
    tps, end = end_total(s, TICKS)
    assert end == total, (end, total)
    poller = Consumer(committed_reader_config(s, f"{s.kafka.topic_prefix}mercado-marketdata"))  # the worker's group
    spawned = time.perf_counter()
    proc = run.start_worker(s, {})
    first_t = first_done = first_cpu = None
    done = 0
    try:
        deadline = spawned + timeout_s
        while True:
            if proc.poll() is not None:
                raise run.worker_failed(proc)
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the worker consumed {done:,}/{total:,} in {timeout_s:.0f} s")
            done = committed_total(poller, tps)
            now = time.perf_counter()
            if done and first_t is None:
                first_t, first_done, first_cpu = now, done, proc_cpu_s(proc.pid)
            progress(f"mercado worker: {done:,}/{total:,} ticks committed, {now - spawned:.1f} s")
            if done >= total:
                end_t, end_cpu = now, proc_cpu_s(proc.pid)
                break
            time.sleep(0.1)
    finally:
        end_progress()
        poller.close()
        run.stop_worker(proc)
        os.sched_setaffinity(0, set(run.all_cores))
    steady = total - first_done
    return {
        "value": steady / (end_t - first_t),
        "value_cpu": steady / max(end_cpu - first_cpu, 1e-9),
        "total_rate": total / (end_t - spawned),
        "startup_s": first_t - spawned,
        "steady_s": end_t - first_t,
        "steady_ticks": steady,
    }


# --------------------------------------------------------------------------- latency
class BarReader(threading.Thread):
    """Reads md.bars.v1 and keeps (receive wall time, bar record) of every bar. ``read_uncommitted`` sees a
    bar as soon as the worker's producer wrote it, before its transaction commits (a diagnostic)."""

    def __init__(self, s: Settings, isolation: str = "read_committed"):
        super().__init__(daemon=True)
        from streams.kafka.consumer import default_serde

        self.serde = default_serde(s)
        self.consumer = Consumer(
            consumer_config(
                s,
                f"{s.kafka.topic_prefix}bench-bars-{isolation}",
                **{"fetch.wait.max.ms": 5, "enable.partition.eof": False, "isolation.level": isolation},
            )
        )
        name = s.topic(BARS)
        parts = self.consumer.list_topics(name, timeout=10).topics[name].partitions
        self.consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in parts])
        self.bars: list[tuple[float, dict]] = []
        self.stop = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        poll = self.consumer.poll
        while not self.stop.is_set():
            msg = poll(0.05)
            if msg is None:
                continue
            received = time.time()
            if msg.error() is not None:
                self.error = msg.error().str()
                continue
            self.bars.append((received, self.serde.decode(msg.value())[1]))
        self.consumer.close()


class Feed:
    """The latency rounds' source: PriceTicks at a steady rate, round-robin over ``n_keys`` crypto keys, each
    with ``event_time`` = wall-clock now in µs, plus one Heartbeat per key every 0.5 s."""

    def __init__(self, s: Settings, n_keys: int):
        self.keys = [(v, sym) for sym in SYMBOLS for v in VENUES][:n_keys]
        serde = AvroSerde(registry_url=s.kafka.schema_registry_url)
        self.topic = s.topic(TICKS)
        self.enc_tick, self.enc_hb = serde.encoder("PriceTick", self.topic), serde.encoder("Heartbeat", self.topic)
        self.producer = Producer(producer_config(s))
        self.sent: dict[str, list[int]] = {f"{v}:{sym}": [] for v, sym in self.keys}  # event times, increasing
        self.tick_times: dict[str, list[int]] = {key: [] for key in self.sent}  # PriceTicks only: a bar needs one
        self.n = 0
        self.started = self.ended = 0.0
        self.stalls: list[tuple[float, float]] = []  # (seconds into the run, pause in ms) of pauses > 50 ms
        self.steal_s = 0.0

    def heartbeats(self, now_us: int) -> None:
        for key, times in self.sent.items():
            self.producer.produce(
                self.topic, self.enc_hb({"event_id": f"hb:{key}:{now_us}", "event_time": now_us, "source": key}), key
            )
            times.append(now_us)

    def run(self, rate: int, seconds: float, status: Callable[[int, float], None]) -> None:
        """Produce for ``seconds`` (``status(ticks, elapsed)`` about once a second), then flush."""
        rng = random.Random(7)
        price = {k: 100.0 * (1 + i) for i, k in enumerate(self.sent)}
        seq = dict.fromkeys(self.sent, 0)
        key_cycle = itertools.cycle(self.keys)
        sent, tick_times, ticks, enc_tick = self.sent, self.tick_times, self.topic, self.enc_tick
        n = 0
        started = self.started = time.time()
        next_hb = started + HEARTBEAT_EVERY_S
        last_report = started
        produce, poll = self.producer.produce, self.producer.poll
        # A pause of this loop (the bench process descheduled, the machine stalled) leaves a hole in the
        # ticks' event times: the bar before it closes only when the feed resumes. Such pauses are recorded
        # so they are not mistaken for the pipeline's.
        stalls = self.stalls
        steal_started = machine_steal_s()
        prev = started
        while True:
            now = time.time()
            elapsed = now - started
            if now - prev > FEED_STALL_S:
                stalls.append((round(prev - started, 2), round((now - prev) * 1000, 1)))
            prev = now
            if elapsed >= seconds:
                break
            now_us = int(now * 1_000_000)
            due = int(elapsed * rate)
            while n < due:
                venue, symbol = next(key_cycle)
                key = f"{venue}:{symbol}"
                p = price[key] = price[key] * (1 + rng.uniform(-2e-5, 2e-5))
                q = seq[key] = seq[key] + 1
                rec = {
                    "event_id": f"{key}:{q}",
                    "event_time": now_us,
                    "venue": venue,
                    "symbol": symbol,
                    "bid": p - 0.01,
                    "ask": p + 0.01,
                    "last": p,
                    "volume": 0.01,
                    "sequence": q,
                    "backfill_id": None,
                }
                try:
                    produce(ticks, enc_tick(rec), key)
                except BufferError:
                    poll(0.01)
                    produce(ticks, enc_tick(rec), key)
                sent[key].append(now_us)
                tick_times[key].append(now_us)
                n += 1
            if now >= next_hb:
                self.heartbeats(now_us)
                next_hb += HEARTBEAT_EVERY_S
            poll(0)
            if now - last_report >= 1:
                last_report = now
                status(n, elapsed)
            time.sleep(0.0005)
        self.ended = time.time()
        self.steal_s = machine_steal_s() - steal_started
        self.n = n
        self.producer.flush(10)

    def stats(self) -> dict[str, Any]:
        return {
            "feed_stalls": len(self.stalls),
            "feed_max_stall_ms": max((ms for _, ms in self.stalls), default=0.0),
            "feed_stall_list": self.stalls[:20],
            "machine_steal_s": round(self.steal_s, 2),
        }


def settings_with(run: Run, name: str, env: dict[str, str]) -> Settings:
    """The phase's settings with ``env`` applied, as the worker started with ``env`` sees them."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the bench's own settings (feed producer linger, intervals) follow the worker's
    try:
        base = Settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return run.phase(
        name,
        marketdata=base.marketdata,
        worker__commit_interval_s=base.worker.commit_interval_s,
        kafka__producer_linger_ms=base.kafka.producer_linger_ms,
    )


class EchoReader(threading.Thread):
    """Reads the raw echo's output (read_committed) and keeps, per message, receive time − its timestamp
    (the feed producer's create time, in ms: up to 1 ms is truncation)."""

    def __init__(self, s: Settings):
        super().__init__(daemon=True)
        self.consumer = Consumer(
            consumer_config(
                s, f"{s.kafka.topic_prefix}bench-echo", **{"fetch.wait.max.ms": 5, "enable.partition.eof": False}
            )
        )
        name = s.topic(RAW_OUT.name)
        parts = self.consumer.list_topics(name, timeout=10).topics[name].partitions
        self.consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in parts])
        self.samples: list[tuple[int, float]] = []  # (create time ms, latency ms)
        self.stop = threading.Event()

    def run(self) -> None:
        samples = self.samples
        while not self.stop.is_set():
            msgs = fetch(self.consumer)
            received = time.time() * 1000
            for msg in msgs:
                if msg.error() is None:
                    ts = msg.timestamp()[1]
                    samples.append((ts, received - ts))
        self.consumer.close()


def echo_run(run: Run, rate: int, seconds: float, n_keys: int, drain_s: float) -> dict[str, Any]:
    """The latency baseline: the same feed through the raw echo (``bench.raw_echo``, pinned like the worker)."""
    s = settings_with(run, "echo", {})
    os.sched_setaffinity(0, run.other_cores)
    feed = Feed(s, n_keys)
    reader = EchoReader(s)
    reader.start()
    cmd = [sys.executable, "-m", "bench.raw_echo", "--source", s.topic(TICKS), "--out", s.topic(RAW_OUT.name)]
    proc = run.start_process(s, {}, [*cmd, "--group", f"{s.kafka.topic_prefix}bench-raw-echo"])
    try:
        spawned = time.monotonic()
        feed.heartbeats(time.time_ns() // 1000)
        feed.producer.flush(10)
        while len(reader.samples) < n_keys:  # ready: the warm-up heartbeats came back
            if proc.poll() is not None:
                raise run.worker_failed(proc)
            if time.monotonic() - spawned > 60:
                raise TimeoutError("the raw echo did not get ready in 60 s")
            time.sleep(0.1)

        def status(n: int, elapsed: float) -> None:
            progress(f"[raw echo] {n:,} ticks in {elapsed:.0f}/{seconds:.0f} s, {len(reader.samples):,} read")

        feed.run(rate, seconds, status)
        total = sum(len(t) for t in feed.sent.values())  # every event produced, warm-up heartbeats included
        deadline = time.time() + drain_s
        while len(reader.samples) < total and time.time() < deadline:
            time.sleep(0.1)
        end_progress()
    finally:
        reader.stop.set()
        reader.join(5)
        run.stop_worker(proc)
        os.sched_setaffinity(0, set(run.all_cores))
    since = (feed.started + WARMUP_S) * 1000
    lat = [ms for ts, ms in reader.samples if ts >= since]
    if not lat:
        raise RuntimeError("[raw echo] nothing was read back")
    out = {
        "config": "raw-echo",
        "rate": round(feed.n / (feed.ended - feed.started)),
        "p50_ms": round(percentile(lat, 50), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(max(lat), 1),
        "messages": len(lat),
        "missing": max(0, total - len(reader.samples)),
        **feed.stats(),
    }
    log(
        f"[raw echo] {out['rate']:,} ticks/s for {seconds:.0f} s through a raw consume-decode-encode-produce "
        f"loop: p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms over {len(lat):,} "
        f"messages ({out['missing']} missing); feed paused {out['feed_stalls']} times > "
        f"{FEED_STALL_S * 1000:.0f} ms; machine steal {out['machine_steal_s']} s"
    )
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def commit_stats(port: int) -> dict[str, float]:
    """The worker's commits so far (native engine: ``mercado_worker_commit_seconds``): count, seconds in
    commits, and how many took at most 10, 25 and 50 ms. Empty if the worker serves none (faust engine)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    stats: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "mercado_worker_commit_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                stats["count"] = sample.value
            elif sample.name.endswith("_sum"):
                stats["seconds"] = sample.value
            elif sample.name.endswith("_bucket") and sample.labels.get("le") in ("0.01", "0.025", "0.05"):
                stats[f"within_{float(sample.labels['le']) * 1000:g}ms"] = sample.value
    return stats


def latency_run(
    run: Run, name: str, env: dict[str, str], rate: int, seconds: float, n_keys: int, drain_s: float
) -> dict[str, Any]:
    s = settings_with(run, name, env)
    os.sched_setaffinity(0, run.other_cores)
    grace_us = s.marketdata.grace_us
    intervals = s.marketdata.intervals_s
    feed = Feed(s, n_keys)
    sent, tick_times = feed.sent, feed.tick_times
    reader = BarReader(s)
    early = BarReader(s, "read_uncommitted")
    reader.start()
    early.start()
    port = free_port()
    proc = run.start_worker(s, {**env, "MERCADO_METRICS__PORT_WORKER": str(port)})
    tps, _ = end_total(s, TICKS)
    commits_at_start: dict[str, float] = {}
    commits: dict[str, float] = {}
    poller = Consumer(committed_reader_config(s, f"{s.kafka.topic_prefix}mercado-marketdata"))  # the worker's group
    try:
        # ready = the worker has consumed and committed a warm-up heartbeat of every key
        spawned = time.monotonic()
        feed.heartbeats(time.time_ns() // 1000)
        feed.producer.flush(10)
        _, target = end_total(s, TICKS)
        while committed_total(poller, tps) < target:
            if proc.poll() is not None:
                raise run.worker_failed(proc)
            if time.monotonic() - spawned > 180:
                raise TimeoutError("the worker did not get ready in 180 s")
            progress(f"[{name}] waiting for the worker to be ready, {time.monotonic() - spawned:.1f} s")
            time.sleep(0.1)
        end_progress()
        ready_s = time.monotonic() - spawned
        cpu_started = proc_cpu_s(proc.pid)

        def status(n: int, elapsed: float) -> None:
            progress(f"[{name}] {n:,} ticks in {elapsed:.0f}/{seconds:.0f} s, {len(reader.bars):,} bars read")

        commits_at_start = commit_stats(port)
        feed.run(rate, seconds, status)
        commits = commit_stats(port)
        started, stream_end, n, steal = feed.started, feed.ended, feed.n, feed.steal_s
        cpu_share = (proc_cpu_s(proc.pid) - cpu_started) / (stream_end - started)
        achieved = n / (stream_end - started)
        # every bar whose end + grace the key's last event passed must arrive; give it the commit interval + 3 s
        started_us = int(started * 1_000_000)
        # (a bar exists only for an interval with a PriceTick of its key: one without is a Gap)
        expected: set[tuple[str, int, int]] = set()
        for key, times in sent.items():
            last, tt = times[-1], tick_times[key]
            for interval in intervals:
                step = interval * 1_000_000
                start = (started_us // step + 1) * step
                while start + step + grace_us <= last:
                    i = bisect_left(tt, start)
                    has_tick = i < len(tt) and tt[i] < start + step
                    if has_tick and start + step + grace_us >= started_us + WARMUP_S * 1_000_000:
                        expected.add((key, interval, start))
                    start += step
        lag = end_total(s, TICKS)[1] - committed_total(poller, tps)  # the worker's backlog when the feed stops
        deadline = time.time() + drain_s
        while time.time() < deadline:  # a worker that fell behind gets drain_s to deliver the closed bars
            got = {(f"{b['venue']}:{b['symbol']}", b["interval_s"], b["start"]) for _, b in reader.bars}
            if expected <= got:
                break
            if proc.poll() is not None:
                raise run.worker_failed(proc)
            progress(f"[{name}] {len(expected & got):,}/{len(expected):,} bars received")
            time.sleep(0.1)
        end_progress()
    finally:
        reader.stop.set()
        early.stop.set()
        reader.join(5)
        early.join(5)
        poller.close()
        run.stop_worker(proc)
        os.sched_setaffinity(0, set(run.all_cores))
    beyond, from_event = [], []
    counted: dict[tuple[str, int, int], float] = {}
    closing_at: dict[tuple[str, int, int], int] = {}  # produce time of the event that closed the bar
    for received, bar in reader.bars:
        k = (f"{bar['venue']}:{bar['symbol']}", bar["interval_s"], bar["start"])
        if k in expected and k not in counted:
            counted[k] = received
            close_at = bar["end"] + grace_us
            beyond.append((received * 1e6 - close_at) / 1000)
            times = sent[k[0]]
            closing_at[k] = times[bisect_left(times, close_at)]
            from_event.append((received * 1e6 - closing_at[k]) / 1000)
    written: dict[tuple[str, int, int], float] = {}
    for received, bar in early.bars:
        k = (f"{bar['venue']}:{bar['symbol']}", bar["interval_s"], bar["start"])
        if k in counted and k not in written:
            written[k] = (received * 1e6 - closing_at[k]) / 1000
    if not beyond:
        raise RuntimeError(f"[{name}] no bars were read back (reader error: {reader.error})")
    missing = len(expected) - len(counted)
    # a bar that did not arrive within drain_s counts as infinitely late: p99 is then unknown (None)
    padded = beyond + [float("inf")] * missing

    def ms(q: float, values: list[float]) -> float | None:
        v = percentile(values, q)
        return round(v, 1) if v != float("inf") else None

    closing = from_event + [float("inf")] * missing
    # p99 over a minute of 1 s and 5 s bars is set by its one or two slowest boundaries (12 or 24 bars
    # each): show them, with how much of their time was before the bars were written (read_uncommitted)
    by_boundary: dict[int, list[tuple[float, float | None]]] = {}
    for k, received in counted.items():
        lat = (received * 1e6 - closing_at[k]) / 1000
        by_boundary.setdefault(k[2] + k[1] * 1_000_000, []).append((lat, written.get(k)))
    worst = sorted(by_boundary.items(), key=lambda kv: -max(lat for lat, _ in kv[1]))[:5]
    worst_boundaries = [
        {
            "at_s": round((end - started_us) / 1e6, 1),
            "bars": len(bars),
            "max_ms": round(max(lat for lat, _ in bars), 1),
            "max_written_ms": max((round(w, 1) for _, w in bars if w is not None), default=None),
        }
        for end, bars in worst
    ]
    out = {
        "config": name,
        "rate_target": rate,
        "rate": round(achieved),
        "commit_interval_s": s.worker.commit_interval_s,
        "feed_linger_ms": s.kafka.producer_linger_ms,
        "intervals_s": list(intervals),
        # the measure: from the produce of the tick (or heartbeat) that closed the bar to the bar
        # visible to a read_committed consumer
        "p50_ms": ms(50, closing),
        "p99_ms": ms(99, closing),
        "max_ms": round(max(from_event), 1),
        # from the earliest wall-clock moment the bar could close (end + grace): the same but for the
        # per-key tick spacing, unless the feed paused (then the pause counts too)
        "p50_beyond_grace_ms": ms(50, padded),
        "p99_beyond_grace_ms": ms(99, padded),
        "max_beyond_grace_ms": round(max(beyond), 1),
        **feed.stats(),
        # the same bars read with read_uncommitted: visible before the commit (fetch + batch + processing)
        "p50_uncommitted_ms": ms(50, list(written.values())) if written else None,
        "p99_uncommitted_ms": ms(99, list(written.values())) if written else None,
        "bars": len(expected),
        "missing_bars": missing,
        "kept_up": missing == 0 and lag <= rate,  # backlog at the end under one second of input
        "worker_backlog_at_end": lag,
        "worker_cpu_share": round(cpu_share, 2),  # CPU-s of the worker per second while the feed ran
        "keys": len(feed.keys),
        "seconds": seconds,
        "worker_ready_s": round(ready_s, 1),
        "worst_boundaries": worst_boundaries,
    }
    if commits and commits_at_start:  # the worker's commits while the feed ran (native engine)
        count = commits["count"] - commits_at_start["count"]
        out["commits_per_s"] = round(count / (stream_end - started), 1)
        out["commit_mean_ms"] = round((commits["seconds"] - commits_at_start["seconds"]) / max(count, 1) * 1000, 2)
        for limit in (10, 25, 50):
            within = commits[f"within_{limit}ms"] - commits_at_start[f"within_{limit}ms"]
            out[f"commits_over_{limit}ms"] = int(count - within)
    commit_ms = s.worker.commit_interval_s * 1000
    log(
        f"[{name}] {achieved:,.0f} ticks/s for {seconds:.0f} s, commit interval {commit_ms:.0f} ms, feed linger "
        f"{s.kafka.producer_linger_ms} ms: {len(expected)} bars ({missing} missing after {drain_s:.0f} s), from the "
        f"closing event p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms (beyond grace: "
        f"p50 {out['p50_beyond_grace_ms']} / p99 {out['p99_beyond_grace_ms']} ms; written, before the "
        f"commit: p50 {out['p50_uncommitted_ms']} / p99 {out['p99_uncommitted_ms']} ms); worker backlog when "
        f"the feed stopped: {lag:,} events, worker CPU {cpu_share:.0%} of its core; feed paused {len(feed.stalls)} "
        f"times > {FEED_STALL_S * 1000:.0f} ms (longest {out['feed_max_stall_ms']} ms); machine steal {steal:.2f} s"
        + ("" if out["kept_up"] else "; the worker did NOT keep up with this rate")
    )
    if "commits_per_s" in out:
        log(f"[{name}] worker commits while the feed ran: {out['commits_per_s']}/s, mean {out['commit_mean_ms']} ms, "
            f"{out['commits_over_10ms']} over 10 ms, {out['commits_over_25ms']} over 25 ms, "
            f"{out['commits_over_50ms']} over 50 ms")
    log(f"[{name}] slowest boundaries (s into the run: bars, max ms, of which before the commit): " + ", ".join(
        f"{w['at_s']} s: {w['bars']}, {w['max_ms']}, {w['max_written_ms']}" for w in worst_boundaries))
    return out


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=200_000, help="events of the generated day (throughput)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--day", default="2026-11-20")
    parser.add_argument("--rate", type=int, default=10_000, help="ticks/s of the latency run")
    parser.add_argument("--latency-s", type=float, default=60.0, help="seconds of steady ticks per latency config")
    parser.add_argument("--keys", type=int, default=12, help="venue:symbol keys of the latency run (max 30)")
    parser.add_argument(
        "--drain-s",
        type=float,
        default=60.0,
        help="seconds to wait for the closed bars after the feed stops (a worker behind catches up)",
    )
    parser.add_argument(
        "--sustainable-rate",
        type=int,
        default=1000,
        help="ticks/s of the second latency round when the worker cannot keep up with --rate",
    )
    parser.add_argument("--rounds", type=int, default=2, help="latency rounds with the defaults (fresh worker each)")
    parser.add_argument(
        "--low-latency-round",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also a round with 10 ms commits and 1 ms feed linger (default: with --engine faust only)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="max seconds for the worker's throughput run")
    parser.add_argument("--engine", choices=("native", "faust"), help="worker engine (default: the settings')")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--keep-topics", action="store_true", help="do not delete the run's topics")
    args = parser.parse_args()
    settings = get_settings()
    check_services(settings)
    sys.setswitchinterval(0.0005)  # the bar reader thread must get the GIL promptly to stamp arrivals
    run = Run(settings, args.keep_topics, args.engine)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    extra: dict[str, Any] = {"engine": run.engine, "worker_core": run.worker_core}
    value = baseline = 0.0
    try:
        if not args.skip_throughput:
            s = run.phase("tp")
            total = produce_day(s, args.ticks, args.seed, dt.date.fromisoformat(args.day))
            b1, b1_cpu = logged_baseline(run, s, total)
            log(f"mercado worker (engine {run.engine}) on core {run.worker_core}…")
            w = worker_throughput(run, s, total, args.timeout)
            log(
                f"  {w['value']:,.0f} ticks/s steady ({w['value_cpu']:,.0f} per CPU-s) after {w['startup_s']:.1f} s "
                f"start-up; {w['total_rate']:,.0f} ticks/s including start-up"
            )
            b2, b2_cpu = raw_loop(s, total, run.worker_core)
            log(f"baseline again: {b2:,.0f} ticks/s ({b2_cpu:,.0f} per CPU-s)")
            value, baseline = w["value"], max(b1, b2)
            extra.update(
                ticks=total,
                value_cpu=round(w["value_cpu"]),
                baseline_cpu=round(max(b1_cpu, b2_cpu)),
                ratio_cpu=round(w["value_cpu"] / max(b1_cpu, b2_cpu), 3),
                total_rate=round(w["total_rate"]),
                startup_s=round(w["startup_s"], 1),
                steady_s=round(w["steady_s"], 2),
            )
        if not args.skip_latency:
            common = {"MERCADO_MARKETDATA__INTERVALS_S": "[1,5]"}
            low_env = {**common, "MERCADO_WORKER__COMMIT_INTERVAL_S": "0.01", "MERCADO_KAFKA__PRODUCER_LINGER_MS": "1"}
            lat_args = (args.latency_s, args.keys, args.drain_s)
            rounds = [latency_run(run, "default", common, args.rate, *lat_args)]
            # the baseline between the rounds, so that drift of the shared machine hits both alike
            echo = echo_run(run, args.rate, *lat_args)
            for i in range(2, args.rounds + 1):
                if not rounds[-1]["kept_up"]:
                    break
                rounds.append(latency_run(run, f"default-{i}", common, args.rate, *lat_args))
            lat = [*rounds, echo]
            kept_up = all(r["kept_up"] for r in rounds)
            rate = args.rate
            if not kept_up:
                # the figures at --rate measure the backlog, not the pipeline: measure again at a rate the
                # worker sustains
                rate = args.sustainable_rate
                log(f"the worker did not keep up with {args.rate:,} ticks/s; latency again at {rate:,} ticks/s")
                lat.append(latency_run(run, f"default-{rate}", common, rate, *lat_args))
            worst = max(rounds, key=lambda r: float("inf") if r["p99_ms"] is None else r["p99_ms"])
            extra.update(
                p50_ms=worst["p50_ms"],
                p99_ms=worst["p99_ms"],
                p99_ms_rounds=[r["p99_ms"] for r in rounds],
                p99_beyond_grace_ms=worst["p99_beyond_grace_ms"],
                p50_raw_echo_ms=echo["p50_ms"],
                p99_raw_echo_ms=echo["p99_ms"],
                feed_max_stall_ms=max(r["feed_max_stall_ms"] for r in lat),
                grace_ms=settings.marketdata.grace_s * 1000,
                latency_rate=args.rate,
                kept_up=kept_up,
                commit_interval_s=worst["commit_interval_s"],
                latency=lat,
            )
            notes = []
            if not kept_up:
                notes.append(
                    f"at {args.rate:,} ticks/s the worker fell behind (backlog "
                    f"{rounds[-1]['worker_backlog_at_end']:,} events when the feed stopped): latency grows with "
                    f"the backlog; the last round is at {rate:,} ticks/s"
                )
            low_round = args.low_latency_round if args.low_latency_round is not None else run.engine == "faust"
            if low_round:
                ref = lat[-1]  # the defaults at a rate the worker kept up with
                low = latency_run(run, "lowlat" if kept_up else f"lowlat-{rate}", low_env, rate, *lat_args)
                lat.append(low)
                # The commit interval dominates when cutting it tenfold at least halves p99.
                dominates = bool(low["p99_ms"] and ref["p99_ms"] and low["p99_ms"] <= 0.5 * ref["p99_ms"])
                extra.update(
                    p50_ms_low_latency=low["p50_ms"],
                    p99_ms_low_latency=low["p99_ms"],
                    low_latency_rate=low["rate_target"],
                    commit_interval_dominates_p99=dominates,
                )
                if run.engine == "faust":
                    extra["worker_batch_within_s"] = worker_batch_within_s()
                ci_ms = ref["commit_interval_s"] * 1000
                if dominates:
                    notes.append(
                        f"with the default {ci_ms:.0f} ms commit interval p99 ({ref['p99_ms']} ms) is dominated "
                        "by it (read_committed consumers see bars only after the transaction commits): "
                        f"MERCADO_WORKER__COMMIT_INTERVAL_S=0.01 and feed linger 1 ms give p99 {low['p99_ms']} ms"
                    )
                else:
                    rest = (
                        f"the worker's take_events window ({extra['worker_batch_within_s']} s, waited in full "
                        "unless 2,000 events arrive) and the transaction commit's own duration remain"
                        if run.engine == "faust"
                        else "at the live edge the native engine commits 5 ms after a transaction's first output anyway"
                    )
                    notes.append(
                        f"the commit interval does not dominate: {ci_ms:.0f} ms -> p99 {ref['p99_ms']} ms, 10 ms "
                        f"(feed linger 1 ms) -> p99 {low['p99_ms']} ms; {rest}"
                    )
            if notes:
                extra["note"] = "; ".join(notes)
    except KeyboardInterrupt:
        log("interrupted")
        run.cleanup()
        raise SystemExit(130) from None
    except Exception:
        run.cleanup()
        raise
    run.cleanup()
    result("marketdata_live", value, baseline, "ticks/s", target_ratio=0.5, target_p99_ms=50, **extra)


if __name__ == "__main__":
    main()
