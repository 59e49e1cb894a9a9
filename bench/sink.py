"""``python -m bench.sink``: rows/s from Kafka into PostgreSQL through the sink, against a raw loop.

Both read the same topic of encoded Bars (``--rows``, default 1,000,000; 3 partitions) into the same,
emptied, ``md_bars`` table of a fresh database, in the same run:

* Mercado: ``SinkRunner`` with its exactly-once machinery on: column-wise decode + route by record
  type, binary COPY (straight into ``md_bars`` while its keys are new, which they are here; staging +
  ``INSERT … ON CONFLICT DO UPDATE … WHERE revision <`` after a key conflict), the partitions' next
  offsets in the same transaction, default batches (5,000 rows / 200 ms). The bench prints how many
  table batches took each path.
* Baseline: a hand-written loop: confluent-kafka ``consume`` (same fetch settings), fastavro
  ``schemaless_reader``, asyncpg ``copy_records_to_table`` straight into ``md_bars`` (timestamps through
  a binary ``timestamptz`` codec), one COPY per 5,000 messages, no offsets, no conflict handling.

Both run in this process with the sink's garbage-collector tuning (``tune_garbage_collection``).
Rate = rows committed after the first commit / time from the first commit to the last (the consumer
group's join delay is left out of both). The last line is the JSON result (``bench.common.result``).
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import time
import uuid
from io import BytesIO
from typing import Any

import asyncpg
from confluent_kafka import Consumer, Producer
from fastavro import schemaless_reader

from bench.common import result
from infra.local import up
from sinks.database import connect
from sinks.migrate import migrate
from sinks.runner import SinkRunner, tune_garbage_collection
from sinks.settings import SinkSettings
from sinks.tables import load_mappings
from sinks.writer import PG_EPOCH_US
from streams.codec.serde import AvroSerde
from streams.config import Settings, get_settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import DEAD_LETTER_TOPIC, TopicSpec, topic
from streams.kafka.clients import consumer_config, producer_config

T0_US = 1_700_000_000_000_000
MINUTE_US = 60_000_000
BATCH = 5000
TOPIC = "bench.bars"
FAST_FETCH = {"enable.partition.eof": False, "max.partition.fetch.bytes": 8 * 1024 * 1024}


def bar(i: int, instruments: int = 100) -> dict[str, Any]:
    symbol = f"SYM{i % instruments:03d}"
    start = T0_US + (i // instruments) * MINUTE_US
    base = 4000.0 + (i % 89) * 0.5
    return {
        "event_id": f"bar:bench:{symbol}:60:{start}:r0",
        "event_time": start + MINUTE_US,
        "venue": "bench",
        "symbol": symbol,
        "interval_s": 60,
        "start": start,
        "end": start + MINUTE_US,
        "open": base,
        "high": base + 3.0,
        "low": base - 2.0,
        "close": base + 1.0,
        "volume": 100.0 + i % 17,
        "vwap": base + 0.5,
        "tick_count": 20 + i % 9,
        "price_source": "LAST",
        "session": "regular",
        "revision": 0,
        "first_tick_id": f"bench:{symbol}:{i * 30}",
        "last_tick_id": f"bench:{symbol}:{i * 30 + 29}",
    }


def produce(settings: Settings, rows: int) -> float:
    ensure_topics(
        settings, (TopicSpec(TOPIC, ("Bar",), ("venue", "symbol"), "sink benchmark"), topic(DEAD_LETTER_TOPIC))
    )
    encode = AvroSerde().encoder("Bar")
    producer = Producer(producer_config(settings))
    name = settings.topic(TOPIC)
    started = time.perf_counter()
    for i in range(rows):
        record = bar(i)
        value = encode(record)
        key = f"bench:{record['symbol']}".encode()
        while True:
            try:
                producer.produce(name, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0
    return time.perf_counter() - started


class Clock:
    """First and last commit times and the rows committed after the first commit."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.first_rows = 0
        self.last = 0.0
        self.rows = 0

    def committed(self, total_rows: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first, self.first_rows = now, total_rows
        self.last, self.rows = now, total_rows

    def rate(self) -> float:
        assert self.first is not None and self.last > self.first, "too few batches to time"
        return (self.rows - self.first_rows) / (self.last - self.first)


async def truncate(settings: Settings) -> None:
    conn = await connect(settings, "mercado-bench")
    try:
        await conn.execute("TRUNCATE md_bars, mercado_sink_offsets, mercado_dead_letters")
    finally:
        await conn.close()


async def raw_loop(settings: Settings, rows: int) -> float:
    """The baseline: consume, decode with fastavro, COPY into md_bars; nothing else."""
    mapping = load_mappings()[0]
    fields = [c.path[0] for c in mapping.columns]
    timestamps = {c.name for c in mapping.columns if c.type == "timestamp"}
    columns = mapping.column_names
    conn = await connect(settings, "mercado-bench-raw")
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=lambda us: (us - PG_EPOCH_US,),
        decoder=lambda t: t[0] + PG_EPOCH_US,
        format="tuple",
    )
    assert timestamps == {"start_time", "end_time", "event_time"}
    wire = AvroSerde().schemas["Bar"].wire
    row_of = operator.itemgetter(*fields)
    consumer = Consumer(consumer_config(settings, f"bench-raw-{uuid.uuid4().hex}", **FAST_FETCH))
    consumer.subscribe([settings.topic(TOPIC)])
    clock = Clock()
    done = 0
    try:
        while done < rows:
            batch = []
            for msg in consumer.consume(BATCH, 1.0):
                if msg.error() is None:
                    body = BytesIO(msg.value())
                    body.seek(10)  # single-object header
                    batch.append(row_of(schemaless_reader(body, wire, None)))
            if batch:
                await conn.copy_records_to_table("md_bars", records=batch, columns=columns)
                done += len(batch)
                clock.committed(done)
    finally:
        consumer.close()
        await conn.close()
    return clock.rate()


async def through_sink(settings: Settings, rows: int, *, direct_copy: bool = True) -> float:
    """Mercado's sink, in this process, until every row is committed (``direct_copy=False``: every
    batch through staging + ON CONFLICT, the path taken after a key conflict)."""
    run_settings = SinkSettings.extend(settings).with_({"sink__group": f"bench-sink-{uuid.uuid4().hex}"})
    runner = SinkRunner(run_settings, [TOPIC])
    runner.writer.direct_copy = direct_copy
    task = asyncio.create_task(runner.run())
    clock = Clock()
    seen = 0
    try:
        while runner.stats.rows < rows:
            if task.done():
                task.result()
                raise RuntimeError("the sink stopped early")
            if runner.stats.rows != seen:
                seen = runner.stats.rows
                clock.committed(seen)
            await asyncio.sleep(0.002)
        clock.committed(runner.stats.rows)
    finally:
        runner.stop()
        await task
    print(
        f"sink batches: {runner.stats.batches:,}; COPYed straight into the table: {runner.writer.direct_copies:,}; "
        f"key conflicts (written via staging + ON CONFLICT): {runner.writer.key_conflicts:,}"
    )
    return clock.rate()


async def count_rows(settings: Settings) -> int:
    conn = await connect(settings, "mercado-bench")
    try:
        return int(await conn.fetchval("SELECT count(*) FROM md_bars"))
    finally:
        await conn.close()


async def create_database(settings: Settings) -> Settings:
    name = f"mercado_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(settings.dsn().rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return settings.with_({"database_url": settings.dsn().rsplit("/", 1)[0] + "/" + name})


async def drop_database(settings: Settings) -> None:
    name = settings.dsn().rsplit("/", 1)[1]
    conn = await asyncpg.connect(settings.dsn().rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Bars to write (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=1, help="Runs of each, interleaved; the best counts")
    parser.add_argument(
        "--staging-too", action="store_true", help="Also time the sink with every batch through staging (reference)"
    )
    args = parser.parse_args()
    base = get_settings()
    up(base)
    settings = asyncio.run(create_database(base)).with_(
        kafka__topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.", db__timescaledb="off"
    )
    try:
        asyncio.run(migrate(settings))
        produced_s = produce(settings, args.rows)
        print(f"produced {args.rows:,} Bars in {produced_s:.1f} s")
        tune_garbage_collection()  # what `mercado sink` does; the raw loop gets it too
        best_sink = best_raw = 0.0
        for _ in range(args.repeats):
            asyncio.run(truncate(settings))
            raw = asyncio.run(raw_loop(settings, args.rows))
            assert asyncio.run(count_rows(settings)) == args.rows
            print(f"raw loop: {raw:,.0f} rows/s")
            asyncio.run(truncate(settings))
            sink = asyncio.run(through_sink(settings, args.rows))
            assert asyncio.run(count_rows(settings)) == args.rows
            print(f"sink: {sink:,.0f} rows/s")
            best_sink, best_raw = max(best_sink, sink), max(best_raw, raw)
        if args.staging_too:
            asyncio.run(truncate(settings))
            staged = asyncio.run(through_sink(settings, args.rows, direct_copy=False))
            assert asyncio.run(count_rows(settings)) == args.rows
            print(f"for reference, sink with every batch through staging + ON CONFLICT: {staged:,.0f} rows/s")
    finally:
        asyncio.run(drop_database(settings))
    result("sink", best_sink, best_raw, "rows/s", rows=args.rows)


if __name__ == "__main__":
    main()
