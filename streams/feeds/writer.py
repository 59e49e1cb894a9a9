"""The exactly-once writer of a feed: the door's encoding and admission on one transactional producer.

Events are encoded by :class:`~streams.ingest.producer.FileProducer` (the ``mercado produce`` door: schema
validation, admission at the event's receive time, the ``mercado-produced-us`` stamp), on one
transactional producer whose ``transactional.id`` names the feed: the events of a commit interval are
committed together (a backfill's ticks and its ``BackfillComplete`` in one transaction), read_committed
consumers never see a half-written batch, and a restarted feed fences its predecessor (one process per
feed). An event the door refuses, and a frame the adapter could not read, go to the dead-letter topic with
the reason (nothing lost, nothing silently dropped).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import structlog
from confluent_kafka import KafkaException, Producer

from processors import topics
from processors.partitioning import partition_of
from streams.codec.coerce import RowError
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.feeds.core import FeedEvent
from streams.ingest.producer import DeliveryError, DeliveryTracker, FileProducer
from streams.kafka.clients import producer_config
from streams.kafka.consumer import fetch_ready
from streams.kafka.dead_letters import DeadLetter
from streams.kafka.headers import PRODUCED_AT_HEADER
from streams.observability import metrics

log = structlog.get_logger("mercado.feed")

FEED_TOPICS = (topics.TICKS, topics.VENUE_HEALTH)
COLUMNAR_MIN_RUN = 32  # shorter runs of ticks are encoded row by row (building Arrow columns costs more)
WATERMARK_EVERY_S = 0.25  # how often (wall clock) the feed announces its event-time clock: announce_watermarks


class Unreadable:
    """A frame (or an item of one) the adapter could not turn into events: written as a dead letter."""

    __slots__ = ("topic", "key", "raw", "reason", "error", "received_us")

    def __init__(self, topic: str, key: str, raw: bytes, reason: str, error: str, received_us: int):
        self.topic, self.key, self.raw, self.reason, self.error, self.received_us = (
            topic, key, raw, reason, error, received_us)


class FeedWriter:
    """Collects a feed's events and writes them, one transaction per commit interval."""

    def __init__(self, settings: Settings, feed_id: str, *, serde: AvroSerde | None = None,
                 topics_written: tuple[str, ...] = FEED_TOPICS, group_metadata: object | None = None):
        self.settings = settings
        self.feed_id = feed_id
        self.tracker = DeliveryTracker()
        self.producer = Producer(producer_config(settings, **{
            "transactional.id": f"{settings.kafka.topic_prefix}mercado-feed-{feed_id}",
            "delivery.report.only.error": True, "on_delivery": self.tracker,
        }))
        self.producer.init_transactions(30)  # fences a previous process of the same feed
        serde = serde or AvroSerde(registry_url=settings.kafka.schema_registry_url)
        self.doors = {name: FileProducer(settings, name, serde=serde, producer=self.producer)
                      for name in topics_written}
        self.dead_letter_topic = settings.topic(topics.DEAD_LETTERS)
        self.pending: list[FeedEvent | Unreadable] = []
        # consumed input offsets committed with the next batch (an adapter that consumes, e.g. order decisions)
        self.offsets: dict[tuple[str, int], int] = {}
        self.group_metadata = group_metadata
        self.written = 0
        self.committed: dict[str, int] = {}  # events committed, by record type
        self.refused = 0
        self.commits = 0
        self._events = {name: metrics.FEED_EVENTS.labels(feed_id, name)
                        for name in ("PriceTick", "Heartbeat", "BackfillComplete", "VenueHealth")}
        self._latency = metrics.FEED_COMMIT_LATENCY.labels(feed_id)
        self._dead = metrics.FEED_DEAD_LETTERS.labels(feed_id)
        self.last_commit_latencies_s: list[float] = []  # receive → committed, of the last batch (bench, tests)
        self._tick_schema: Any = None  # PriceTick's Arrow schema (wire form), once a run needs it
        self.clock_ms: dict[str, int] = {}  # per topic: the latest event time (ms) committed
        self.announced_ms: dict[str, int] = {}  # per topic: the last watermark announced

    def add(self, events: Iterable[FeedEvent | Unreadable]) -> None:
        self.pending.extend(events)

    # ------------------------------------------------------------------ one transaction (blocking)
    def mark_consumed(self, topic: str, partition: int, next_offset: int) -> None:
        """Input consumed up to ``next_offset`` (exclusive): committed in the transaction of the next batch, with
        the events its messages led to (``group_metadata`` names the consumer group)."""
        self.offsets[(topic, partition)] = next_offset

    def write_batch(self, batch: list[FeedEvent | Unreadable],
                    offsets: dict[tuple[str, int], int] | None = None) -> None:
        """Writes ``batch`` (and commits ``offsets`` of the consumer group) in one transaction; retries it after an
        abortable error. A fatal error (fenced by a newer process of the same feed) raises :class:`KafkaException`."""
        while True:
            self.producer.begin_transaction()
            try:
                self._produce_all(batch)
                if offsets:
                    from confluent_kafka import TopicPartition

                    self.producer.send_offsets_to_transaction(
                        [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())], self.group_metadata, 30)
                self._commit()
                break
            except KafkaException as exc:
                error = exc.args[0]
                if error.txn_requires_abort():
                    log.warning("feed transaction aborted; writing the batch again", feed=self.feed_id, error=str(exc))
                    self.producer.abort_transaction(30)
                    continue
                raise
        if self.tracker.failed:
            raise DeliveryError("; ".join(self.tracker.errors))
        done = time.time_ns() // 1000
        events = [item for item in batch if type(item) is FeedEvent]
        latencies = [(done - item.received_us) / 1e6 for item in events]
        # the histogram once per frame (the events of one frame or page share its receive time): observing
        # each event took ≈ 9 % of the adapter's time at 50k trades/s
        for received_us in {item.received_us for item in events}:
            self._latency.observe((done - received_us) / 1e6)
        self.last_commit_latencies_s = latencies
        self.commits += 1
        for schema, count in Counter(item.schema for item in events).items():
            self.committed[schema] = self.committed.get(schema, 0) + count
        clock = self.clock_ms  # per topic: the latest committed event time (ms), for announce_watermarks
        for item in events:
            t = item.record.get("event_time")
            if isinstance(t, int) and t // 1000 > clock.get(item.topic, -1):
                clock[item.topic] = t // 1000

    def announce_watermarks(self) -> None:
        """The feed's event-time clock, as a strict watermark marker on every partition of each topic it
        writes (docs/architecture.md, "Watermarks in the log"), in a transaction of its own: nothing more at or
        before the latest committed event time less 1 ms (a venue may send more trades of that very ms). Only
        where the clock moved since the last one. Readers hold the partitions strictly from then on."""
        due = {name: t - 1 for name, t in self.clock_ms.items()
               if name in self.doors and t - 1 > self.announced_ms.get(name, -1)}
        if not due:
            return
        self.producer.begin_transaction()
        try:
            for name, t in sorted(due.items()):
                self.doors[name].announce_watermark(t, strict=True)
            self._commit()
        except KafkaException as exc:
            if exc.args[0].txn_requires_abort():  # the next round announces it again
                self.producer.abort_transaction(30)
                return
            raise
        self.announced_ms.update(due)

    def _commit(self) -> None:
        """Commits the open transaction, again while the error is retriable (e.g. the broker briefly away)."""
        while True:
            try:
                self.producer.commit_transaction(30)
                return
            except KafkaException as exc:
                if not exc.args[0].retriable():
                    raise
                log.warning("feed commit failed; trying again", feed=self.feed_id, error=str(exc))

    def _produce_all(self, batch: list[FeedEvent | Unreadable]) -> None:
        """Every item in order; runs of PriceTicks go column-wise (:meth:`_produce_ticks`)."""
        run: list[FeedEvent] = []
        for item in batch:
            if type(item) is FeedEvent and item.schema == "PriceTick":
                run.append(item)
                continue
            if run:
                self._produce_ticks(run)
                run = []
            self._produce(item)
        if run:
            self._produce_ticks(run)

    def _produce_ticks(self, run: list[FeedEvent]) -> None:
        """A run of ticks through the door's column-wise path (the one ``mercado produce`` takes for Parquet
        files: the same Avro bytes and admission rules, checked over whole columns at the earliest receive time
        of the run, so no tick passes that its own receive time would refuse). Encoding a tick as its own dict
        costs ≈ 10 µs, the writer's largest share once pages arrive fast; a run that is short, does not convert
        or breaks a rule goes row by row (which names the row and the rule)."""
        door = self.doors.get(topics.TICKS)
        encoded = None
        if door is not None and len(run) >= COLUMNAR_MIN_RUN:
            import pyarrow as pa

            from schemas.loader import strip_timestamp_logical_types
            from streams.codec.arrow import arrow_schema

            if self._tick_schema is None:
                wire = strip_timestamp_logical_types(door.serde.schemas["PriceTick"].expanded)
                self._tick_schema = arrow_schema(wire)
            schema = self._tick_schema
            try:
                columns = {name: [e.record[name] for e in run] for name in schema.names}
                table = pa.RecordBatch.from_pydict(columns, schema=schema)
            except (KeyError, TypeError, ValueError, pa.ArrowException):
                table = None
            if table is not None:
                encoded = door.encode_batch(table, now_us=min(e.received_us for e in run))
        if encoded is None:
            for item in run:
                self._produce(item)
            return
        topic = door.topic_name
        produce = self.producer.produce
        stamp, headers = -1, []
        for item, value, key, timestamp in zip(run, encoded.values, encoded.keys, encoded.timestamps_ms, strict=True):
            if item.received_us != stamp:  # the ticks of one page share their receive time: one header list
                stamp = item.received_us
                headers = [(PRODUCED_AT_HEADER, str(stamp).encode())]
            while True:
                try:
                    produce(topic, value, key, timestamp=timestamp, headers=headers)
                    break
                except BufferError:
                    self.producer.poll(0.05)
        self.written += len(run)
        self._events["PriceTick"].inc(len(run))

    def _produce(self, item: FeedEvent | Unreadable) -> None:
        if isinstance(item, Unreadable):
            self._dead_letter(item.topic, item.key, item.raw, item.received_us, item.reason, item.error)
            return
        door = self.doors[item.topic]
        door.now_us = item.received_us  # admission at the time it was received (as its produced-at stamp)
        row = item.record if not door.spec.multi_schema else {"type": item.schema, **item.record}
        try:
            _, key, event_time, value = door.encode_row(row)
        except RowError as exc:
            self.refused += 1
            self._dead_letter(item.topic, item.key, orjson.dumps(item.record), item.received_us, "feed-refused",
                              f"{item.schema}: {exc}")
            return
        headers = [(PRODUCED_AT_HEADER, str(item.received_us).encode())]
        while True:
            try:
                self.producer.produce(door.topic_name, value, key, timestamp=event_time // 1000, headers=headers)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.written += 1
        counter = self._events.get(item.schema)
        if counter is None:
            counter = self._events[item.schema] = metrics.FEED_EVENTS.labels(self.feed_id, item.schema)
        counter.inc()

    def _dead_letter(self, topic: str, key: str, raw: bytes, received_us: int, reason: str, error: str) -> None:
        letter = DeadLetter(self.settings.topic(topic), -1, -1, key.encode(), raw,
                            [(PRODUCED_AT_HEADER, str(received_us).encode()), ("mercado-feed", self.feed_id.encode())],
                            reason, error)
        value, kkey, headers = letter.kafka_record()
        self.producer.produce(self.dead_letter_topic, value, kkey, headers=headers)
        metrics.DEAD_LETTERS.labels(self.settings.topic(topic), reason).inc()
        self._dead.inc()

    # ------------------------------------------------------------------ the writing task
    async def run(self, stop: asyncio.Event) -> None:
        """Writes what is pending every commit interval until ``stop``, then what is left."""
        interval = self.settings.feeds.commit_interval_ms / 1000
        loop = asyncio.get_running_loop()
        announced_at = loop.time()
        while True:
            if loop.time() - announced_at >= WATERMARK_EVERY_S:  # the wall clock only triggers it
                announced_at = loop.time()
                await loop.run_in_executor(None, self.announce_watermarks)
            stopping = stop.is_set()
            if self.pending or self.offsets:
                batch, self.pending = self.pending, []
                offsets, self.offsets = self.offsets, {}
                started = loop.time()
                await loop.run_in_executor(None, self.write_batch, batch, offsets)
                wait = max(0.0, interval - (loop.time() - started))
            else:
                wait = interval
            if stopping and not self.pending and not self.offsets:
                return
            if wait:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except TimeoutError:
                    pass

    def close(self) -> None:
        if self.pending or self.offsets:
            batch, self.pending = self.pending, []
            offsets, self.offsets = self.offsets, {}
            self.write_batch(batch, offsets)
        self.producer.flush(30)

    # ------------------------------------------------------------------ restart
    def recent_trades(self, keys: list[str], tail: int) -> dict[str, list[tuple[str, int]]]:
        """The ``(trade id, event time)`` of the last ticks already written for each ``venue:symbol`` key, from
        the last ``tail`` committed messages of its partition: a restarted feed remembers them, so a REST
        page it fetches again is not written twice."""
        from confluent_kafka import Consumer

        from streams.kafka.clients import end_reader_config

        name = self.settings.topic(topics.TICKS)
        consumer = Consumer(end_reader_config(self.settings, f"mercado-feed-recover-{self.feed_id}"))
        out: dict[str, list[tuple[str, int]]] = {k: [] for k in keys}
        try:
            meta = consumer.list_topics(name, timeout=10).topics[name]
            count = len(meta.partitions)
            wanted = {partition_of(k, count) for k in keys}
            serde = self.doors[topics.TICKS].serde
            for msg in tail_messages(consumer, name, sorted(wanted), tail):
                key = (msg.key() or b"").decode()
                if key in out:
                    schema, record = serde.decode(msg.value())
                    if schema.fullname.endswith("PriceTick"):
                        prefix = f"{key}:"
                        event_id = record["event_id"]
                        if event_id.startswith(prefix):
                            out[key].append((event_id[len(prefix):], record["event_time"]))
        finally:
            consumer.close()
        return out


def now_us() -> int:
    return time.time_ns() // 1000


def tail_messages(consumer: Any, name: str, partitions: Iterable[int], tail: int) -> Iterator[Any]:
    """The last ``tail`` messages of each of ``partitions`` of topic ``name`` with a value, partition by
    partition: what a restarted door reads back of what it wrote (the feeds' recent trade ids, the venue
    adapter's order records). Ends a partition at its end (``enable.partition.eof``) or after 2 s without
    a message."""
    from confluent_kafka import TopicPartition

    for partition in partitions:
        lo, hi = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=30)
        if hi <= lo:
            continue
        consumer.assign([TopicPartition(name, partition, max(lo, hi - tail))])
        done = False
        while not done:
            for msg in fetch_ready(consumer, 1000, 2.0) or [None]:
                if msg is None or (msg.error() and msg.error().code() == -191):  # _PARTITION_EOF
                    done = True
                    break
                if msg.error() or msg.value() is None:
                    continue
                yield msg
