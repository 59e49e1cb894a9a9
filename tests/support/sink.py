"""Helpers shared by the sink tests (this module holds no tests).

Every sink test gets its own PostgreSQL database per module (``CREATE DATABASE``), its own schema,
topic prefix and consumer group per test, so tests never see each other's rows or the demo data.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from sinks.checksum import TableChecksum, table_checksums
from sinks.database import connect
from sinks.migrate import migrate
from sinks.runner import SinkRunner
from sinks.settings import SinkSettings
from sinks.tables import TableMapping
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import DEAD_LETTER_TOPIC, TopicSpec, topic
from streams.kafka.clients import end_reader_config, producer_config
from streams.kafka.consumer import end_offsets, fetch_ready

T0_US = 1_763_650_800_000_000  # 2025-11-20 15:00:00 UTC (10:00 in Bogotá)
MINUTE_US = 60_000_000
ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- databases and settings
def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def _maintenance(settings: Settings, statement: str) -> None:
    conn = await asyncpg.connect(with_database(settings.dsn(), "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(settings: Settings, label: str) -> Settings:
    """A new empty database on the same server; returns settings pointing at it."""
    name = f"mercado_test_{re.sub(r'[^a-z0-9]', '_', label.lower())}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_maintenance(settings, f'CREATE DATABASE "{name}"'))
    return settings.with_({"database_url": with_database(settings.dsn(), name)})


def drop_database(settings: Settings) -> None:
    name = urlsplit(settings.dsn()).path.lstrip("/")
    asyncio.run(_maintenance(settings, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def isolated(settings: Settings, **updates: Any) -> SinkSettings:
    """Own schema, topic prefix and consumer group; small retry delays so fault tests run fast. ``updates``
    as for :meth:`Settings.with_` (``section__field``)."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "db__schema_name": f"t_{tag}",
        "kafka__topic_prefix": f"{settings.kafka.topic_prefix}sinktest-{tag}.",  # under the session's prefix
        "sink__group": "sink",
        "sink__retry_initial_s": 0.05,
        "sink__retry_max_s": 1.0,
    }
    values.update(updates)
    return SinkSettings.extend(settings).with_(values)


def migrated(settings: Settings) -> Settings:
    asyncio.run(migrate(settings))
    return settings


def query(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await connect(settings, "mercado-test")
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def execute(settings: Settings, sql: str) -> None:
    """Runs SQL with the simple query protocol (statements that refuse a transaction block, like CALL …)."""

    async def run() -> None:
        conn = await connect(settings, "mercado-test", with_extensions=True)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    async def run() -> list[TableChecksum]:
        conn = await connect(settings, "mercado-test")
        try:
            return await table_checksums(conn)
        finally:
            await conn.close()

    return {c.table: (c.rows, c.md5) for c in asyncio.run(run())}


# --------------------------------------------------------------------------- Kafka
def create_topics(settings: Settings, *names: str, partitions: int = 3) -> None:
    """Test topics (any record type) plus the dead-letter topic, all under the settings' prefix."""
    specs = tuple(TopicSpec(n, (), (), "sink test topic", partitions=partitions) for n in names)
    ensure_topics(settings, (*specs, topic(DEAD_LETTER_TOPIC)))


class EventProducer:
    """Encodes records with the Avro serde and produces them keyed ``venue:symbol`` (or any key)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.serde = AvroSerde()
        self.producer = Producer(producer_config(settings))
        self._encoders: dict[str, Callable[[dict[str, Any]], bytes]] = {}

    def send(self, topic_name: str, schema: str, record: dict[str, Any], key: str | None = None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        encode = self._encoders.get(schema) or self._encoders.setdefault(schema, self.serde.encoder(schema))
        key = key if key is not None else f"{record.get('venue', 'x')}:{record.get('symbol', 'x')}"
        self.send_raw(topic_name, encode(record), key.encode(), headers=headers)

    def send_raw(self, topic_name: str, value: bytes | None, key: bytes | None = b"raw",
                 headers: list[tuple[str, bytes]] | None = None) -> None:
        while True:
            try:
                self.producer.produce(self.settings.topic(topic_name), value, key, headers=headers)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(60) == 0, "broker did not acknowledge every test message"


def read_topic(settings: Settings, physical_topic: str) -> list[Any]:
    """Every message of a topic, from the beginning to its current end."""
    ends = end_offsets(settings, [physical_topic])
    consumer = Consumer(end_reader_config(settings, f"sinktest-reader-{uuid.uuid4().hex}"))
    consumer.assign([TopicPartition(physical_topic, p, OFFSET_BEGINNING) for (_t, p) in ends])
    out: list[Any] = []
    deadline = time.monotonic() + 60
    seen = {key: 0 for key in ends}
    try:
        while any(seen[k] < ends[k] for k in ends) and time.monotonic() < deadline:
            for msg in fetch_ready(consumer, 1000, 0.5):
                if msg.error() is None:
                    out.append(msg)
                    seen[(msg.topic(), msg.partition())] = msg.offset() + 1
            # the consumer's position passes the transaction markers, which are never delivered as messages
            # (on a transactional topic the end is a commit marker: without this, the 60 s deadline every time)
            for tp in consumer.position([TopicPartition(t, p) for (t, p) in ends]):
                if tp.offset >= 0:
                    seen[(tp.topic, tp.partition)] = max(seen[(tp.topic, tp.partition)], tp.offset)
    finally:
        consumer.close()
    return out


# --------------------------------------------------------------------------- running the sink
def stored_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    rows = query(
        settings,
        "SELECT topic, partition, next_offset FROM mercado_sink_offsets WHERE consumer_group = $1",
        settings.kafka.topic_prefix + settings.sink.group,
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def written_end_offsets(settings: Settings, *topics: str) -> dict[tuple[str, int], int]:
    """The end offsets of the non-empty partitions of ``topics``: what the sink must have stored."""
    ends = end_offsets(settings, [settings.topic(t) for t in topics])
    return {key: end for key, end in ends.items() if end > 0}


def drain(
    settings: Settings, topics: list[str], timeout_s: float = 90.0, mappings: Sequence[TableMapping] | None = None,
    ends: dict[tuple[str, int], int] | None = None,
) -> SinkRunner:
    """Runs the sink in this process until it has stored the end offsets of ``topics`` (or ``ends``:
    a transactional topic's end counts its last commit marker, which no consumer ever stores), then
    stops it."""
    ends = ends if ends is not None else end_offsets(settings, [settings.topic(t) for t in topics])
    group = settings.kafka.topic_prefix + settings.sink.group

    async def run() -> SinkRunner:
        runner = SinkRunner(settings, topics, mappings=mappings)
        task = asyncio.create_task(runner.run())
        conn = await connect(settings, "mercado-test")
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT topic, partition, next_offset FROM mercado_sink_offsets WHERE consumer_group = $1", group
                )
                stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
                if all(stored.get(key, 0) >= end for key, end in ends.items() if end > 0):
                    break
                if task.done():
                    task.result()
                    raise AssertionError("the sink stopped before catching up")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sink did not catch up within {timeout_s:.0f} s: {stored} < {ends}")
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
            runner.stop()
            await task
        return runner

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """The samples of a /metrics page: ``name{labels}`` -> value."""
    # a process busy with its work can be slow to answer: a generous timeout, which costs nothing when it is not
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MERCADO_KAFKA_BOOTSTRAP": settings.bootstrap(),
            "MERCADO_DATABASE_URL": settings.dsn(),
            "MERCADO_DB__SCHEMA_NAME": settings.db.schema_name,
            "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "MERCADO_SINK__GROUP": settings.sink.group,
            "MERCADO_SINK__RETRY_INITIAL_S": str(settings.sink.retry_initial_s),
            "MERCADO_SINK__RETRY_MAX_S": str(settings.sink.retry_max_s),
            "MERCADO_SINK__BATCH_ROWS": str(settings.sink.batch_rows),
            "MERCADO_SINK__BATCH_MS": str(settings.sink.batch_ms),
        }
    )
    return env


@dataclass
class SinkProcess:
    """``mercado sink`` as a real subprocess, with its own metrics port and a log file."""

    settings: Settings
    topics: list[str]
    log_path: Path
    instance_id: str | None = "sink-under-test"  # None: dynamic group membership
    metrics_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> SinkProcess:
        self.metrics_port = free_port()
        command = [
            sys.executable, "-m", "streams.commands.cli", "sink",
            "--topics", ",".join(self.topics),
            "--metrics-port", str(self.metrics_port),
        ]  # fmt: skip
        if self.instance_id:
            command += ["--instance-id", self.instance_id]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=settings_env(self.settings), stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def metrics(self) -> dict[str, float]:
        return scrape(self.metrics_port)

    def wait_for_metrics(self, timeout_s: float = 30.0) -> dict[str, float]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.metrics()
            except OSError:
                assert self.alive(), f"sink exited early:\n{self.log()}"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def terminate(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


# --------------------------------------------------------------------------- records
def bar(i: int, *, symbol: str = "USDCOP", venue: str = "sim", revision: int = 0, **changes: Any) -> dict[str, Any]:
    """The i-th one-minute bar of an instrument: prices and counts follow from ``i``."""
    start = T0_US + i * MINUTE_US
    base = 4000.0 + (i % 97) * 0.25
    record = {
        "event_id": f"bar:{venue}:{symbol}:60:{start}:r{revision}",
        "event_time": start + MINUTE_US,
        "venue": venue,
        "symbol": symbol,
        "interval_s": 60,
        "start": start,
        "end": start + MINUTE_US,
        "open": base,
        "high": base + 2.5,
        "low": base - 1.5,
        "close": base + 0.75 + revision * 0.5,
        "volume": float(10 + i % 13),
        "vwap": base + 0.5,
        "tick_count": 5 + i % 11,
        "price_source": "LAST",
        "session": "regular",
        "revision": revision,
        "first_tick_id": f"{venue}:{symbol}:{i * 100}",
        "last_tick_id": f"{venue}:{symbol}:{i * 100 + 99}",
    }
    record.update(changes)
    return record


def gap(i: int, *, symbol: str = "USDCOP", venue: str = "sim", missing_bars: int = 2) -> dict[str, Any]:
    start = T0_US + i * MINUTE_US
    return {
        "event_id": f"gap:{venue}:{symbol}:60:{start}",
        "event_time": start + (missing_bars + 1) * MINUTE_US,
        "venue": venue,
        "symbol": symbol,
        "interval_s": 60,
        "start": start,
        "end": start + missing_bars * MINUTE_US,
        "missing_bars": missing_bars,
        "session": "regular",
    }


def indicator_set(i: int, *, symbol: str = "USDCOP", venue: str = "sim") -> dict[str, Any]:
    start = T0_US + i * MINUTE_US
    warm = i >= 14
    return {
        "event_id": f"ind:bar:{venue}:{symbol}:60:{start}:r0",
        "event_time": start + MINUTE_US,
        "venue": venue,
        "symbol": symbol,
        "interval_s": 60,
        "bar_start": start,
        "bar_event_id": f"bar:{venue}:{symbol}:60:{start}:r0",
        "close": 4000.0 + i,
        "sma": 3999.5 + i if warm else None,
        "ema": 3999.75 + i if warm else None,
        "rsi": 55.0 + i % 10 if warm else None,
        "macd": 0.5 if warm else None,
        "macd_signal": 0.25 if warm else None,
        "macd_hist": 0.25 if warm else None,
        "bb_upper": 4010.0 + i if warm else None,
        "bb_middle": 4000.0 + i if warm else None,
        "bb_lower": 3990.0 + i if warm else None,
        "atr": 1.5 if warm else None,
    }


def data_quality(hour: int, *, symbol: str = "USDCOP", venue: str = "sim", present_bars: int = 58) -> dict[str, Any]:
    hour_start = T0_US + hour * 60 * MINUTE_US
    return {
        "event_id": f"dq:{venue}:{symbol}:{hour_start}",
        "event_time": hour_start + 60 * MINUTE_US,
        "venue": venue,
        "symbol": symbol,
        "hour_start": hour_start,
        "interval_s": 60,
        "expected_bars": 60,
        "present_bars": present_bars,
        "coverage_pct": present_bars / 60 * 100,
        "tick_count": 3000 + hour,
        "late_ticks": 4,
        "max_inter_tick_gap_s": 95.5,
        "latency_p50_ms": 12.0,
        "latency_p95_ms": 40.0,
        "latency_p99_ms": 80.0,
    }


def late_tick(i: int, *, symbol: str = "USDCOP", venue: str = "sim") -> dict[str, Any]:
    event_time = T0_US + i * MINUTE_US + 1_000_000
    tick_id = f"{venue}:{symbol}:{900_000 + i}"
    return {
        "event_id": f"late:{tick_id}",
        "event_time": event_time,
        "venue": venue,
        "symbol": symbol,
        "watermark": event_time + 7_000_000,
        "lateness_us": 7_000_000,
        "tick": {
            "event_id": tick_id,
            "event_time": event_time,
            "venue": venue,
            "symbol": symbol,
            "bid": 4001.0,
            "ask": 4002.0,
            "last": None,
            "volume": 0.5,
            "sequence": 900_000 + i,
            "backfill_id": None,
        },
    }


def alert(i: int, *, symbol: str = "USDCOP", venue: str = "sim") -> dict[str, Any]:
    return {
        "event_id": f"alert:move:{venue}:{symbol}:{i}",
        "event_time": T0_US + i * MINUTE_US,
        "alert_key": f"move:{venue}:{symbol}",
        "source": "marketdata",
        "kind": "price_move",
        "level": "WARNING",
        "message": f"{symbol} moved 0.{5 + i}% in 5 minutes",
        "value": 0.5 + i / 10,
        "threshold": 0.5,
        "suppressed_count": i % 3,
        "caused_by": f"bar:{venue}:{symbol}:60:{T0_US + i * MINUTE_US}:r0",
        "details": {"window": "5m", "direction": "up"},
    }


def price_tick(i: int) -> dict[str, Any]:
    """A record type no sink table maps."""
    return {
        "event_id": f"sim:USDCOP:{i}",
        "event_time": T0_US + i,
        "venue": "sim",
        "symbol": "USDCOP",
        "bid": 4000.0,
        "ask": 4001.0,
        "last": 4000.5,
        "volume": 1.0,
        "sequence": i,
        "backfill_id": None,
    }


def bar_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """The md_bars row a Bar must become (timestamps converted here, independently of the sink)."""
    from datetime import UTC, datetime, timedelta

    def ts(us: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)

    r = record
    return (
        r["venue"], r["symbol"], r["interval_s"], ts(r["start"]), ts(r["end"]), r["open"], r["high"], r["low"],
        r["close"], r["volume"], r["vwap"], r["tick_count"], r["price_source"], r["session"], r["revision"],
        r["event_id"], ts(r["event_time"]), r["first_tick_id"], r["last_tick_id"],
    )  # fmt: skip


BAR_COLUMNS = [
    "venue", "symbol", "interval_s", "start_time", "end_time", "open", "high", "low", "close", "volume", "vwap",
    "tick_count", "price_source", "session", "revision", "event_id", "event_time", "first_tick_id", "last_tick_id",
]  # fmt: skip


def load_expected_bars(settings: Settings, records: Iterable[dict[str, Any]]) -> str:
    """Loads what md_bars must contain into ``<schema>_expected.md_bars``; returns that schema's name."""
    schema = settings.db.schema_name + "_expected"
    rows = [bar_row(r) for r in records]

    async def load() -> None:
        conn = await connect(settings, "mercado-test")
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(f'CREATE TABLE "{schema}".md_bars (LIKE md_bars INCLUDING ALL)')
            await conn.copy_records_to_table("md_bars", records=rows, columns=BAR_COLUMNS, schema_name=schema)
        finally:
            await conn.close()

    asyncio.run(load())
    return schema


def compare_bars(settings: Settings, expected_schema: str) -> dict[str, Any]:
    """Counts, rows missing / unexpected, and both checksums of md_bars against the expected table."""
    from sinks.checksum import checksum_sql

    columns = ", ".join(BAR_COLUMNS)
    key = ["venue", "symbol", "interval_s", "start_time"]
    actual = query(settings, checksum_sql("md_bars", BAR_COLUMNS, key))[0]
    expected = query(settings, checksum_sql("md_bars", BAR_COLUMNS, key, expected_schema))[0]
    missing = query(
        settings, f'SELECT count(*) FROM (SELECT {columns} FROM "{expected_schema}".md_bars '
        f"EXCEPT SELECT {columns} FROM md_bars) d"
    )[0][0]  # fmt: skip
    unexpected = query(
        settings, f'SELECT count(*) FROM (SELECT {columns} FROM md_bars '
        f'EXCEPT SELECT {columns} FROM "{expected_schema}".md_bars) d'
    )[0][0]  # fmt: skip
    return {
        "rows": actual["rows"],
        "expected_rows": expected["rows"],
        "missing": missing,
        "unexpected": unexpected,
        "md5": actual["md5"],
        "expected_md5": expected["md5"],
    }
