"""``mercado sink``: consume derived topics and materialize them in PostgreSQL with an exactly-once effect.

At-least-once delivery + idempotent writes + offsets stored in the rows' transaction:

* Messages are decoded and routed by record type (``sinks/tables.toml``) into a batch that is handed
  to the writer when it holds ``MERCADO_SINK__BATCH_ROWS`` messages or is ``MERCADO_SINK__BATCH_MS`` old. One batch is
  written while the next one is consumed (the database works while Python decodes). Record types
  listed under ``[[ignore]]`` only move the offsets (no row, no dead letter).
* Each batch commits its rows, its dead letters and every partition's next offset in one transaction.
  On start and after every rebalance the consumer seeks to the offsets stored in the database
  (``on_assign``); Kafka's committed offsets are only updated afterwards, for lag tools.
* When the database is down the write is retried with exponential backoff and jitter (each retry
  logged and counted in ``mercado_sink_retries_total``), the consumer's partitions are paused so
  memory stays bounded (the batch in flight and the one being filled), and consumption resumes once
  the write went through. Nothing is lost: offsets only move with the rows.
* Before partitions are revoked the batches in hand are written (``on_revoke``).
* ``stop()`` (SIGINT/SIGTERM) writes the current batch and returns.

confluent-kafka calls ``consume`` and the rebalance callbacks in one worker thread; the callbacks hand
their database work to the event loop, which is free while it waits for that thread.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import orjson
import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from sinks.database import connect, describe, is_transient
from sinks.dead_letters import UNMAPPED_RECORD, DeadLetterDeliveryError, DeadLetterTopic, dead_letter
from sinks.settings import SinkSettings
from sinks.tables import HEADERS, Ignored, Row, TableMapping, load_ignored, load_mappings
from sinks.writer import Batch, BatchWriter, TableRows
from streams.codec.serde import DecodeError
from streams.config import Settings
from streams.kafka.catalog import all_topics
from streams.kafka.clients import consumer_config
from streams.kafka.consumer import default_serde
from streams.kafka.dead_letters import DeadLetter
from streams.kafka.headers import is_marker
from streams.observability import metrics
from streams.runtime.heap import freeze_heap

log = structlog.get_logger("mercado.sink")

T = TypeVar("T")
Route = tuple[Callable[[Row], None], Callable[[Message], None], Callable[[dict[str, Any]], Row]]
IDLE_POLL_S = 0.2  # longest wait in consume(): how soon a stop is noticed
# Messages decoded between two turns of the event loop: between turns the batch in flight cannot advance
# (its COPY, its INSERT, its COMMIT each need a turn), so chunks of a few milliseconds keep the database
# busy while Python decodes; column-wise decoding has a fixed cost per call, so not much smaller either
# (bench.sink: 256 -> 76k rows/s, 1,000 -> 118k in the same conditions).
INGEST_SLICE = 1000
PAUSED_POLL_S = 0.1
STATISTICS_INTERVAL_MS = 5000
GC_GENERATION0_THRESHOLD = 100_000
KAFKA_COMMIT_INTERVAL_S = 1.0


def _iso(us: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us / 1_000_000))


class SinkStopped(Exception):
    """The sink was asked to stop while it waited for the database."""


class ShutdownIncomplete(RuntimeError):
    """Stopping, the last batches could not be written in time (they will be read again on the next start)."""


def tune_garbage_collection() -> None:
    """Process-wide: fewer cyclic garbage-collection passes. Decoding allocates a dict per message and
    batches keep thousands of rows alive, so CPython's default thresholds (700 allocations) spend about
    a sixth of a sink's CPU re-scanning them; what exists at start (schemas, modules) is frozen out."""
    freeze_heap(collect=False, young_threshold=GC_GENERATION0_THRESHOLD, older=(20, 20))


def default_topics(mappings: Iterable[TableMapping], ignored: Ignored | None = None) -> list[str]:
    """The catalog topics carrying a mapped record type (logical names), but for the ignored topics
    (default: those of the ``[[ignore]]`` entries of every ``sinks/tables*.toml``)."""
    skipped = (load_ignored() if ignored is None else ignored).topics
    mapped = {m.record.rsplit(".", 1)[-1] for m in mappings}
    return [t.name for t in all_topics() if mapped & set(t.schemas) and t.name not in skipped]


def _discard(_item: object) -> None:
    return None


def _no_row(_record: dict[str, Any]) -> Row:
    return ()


IGNORE_ROUTE: Route = (_discard, _discard, _no_row)  # an ignored record type: nothing enters the batch


@dataclass
class SinkStats:
    """What this runner did (tests and logs; the metrics say the same for the whole process)."""

    batches: int = 0
    rows: int = 0
    dead_letters: int = 0
    ignored: int = 0  # messages of ignored record types (``[[ignore]]``): offsets only
    retries: int = 0
    aggregate_refreshes: int = 0  # continuous aggregates refreshed after rows older than their policy's window


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between d/2 and d, d = min(max_s, initial_s * 2**n)."""

    initial_s: float
    max_s: float

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_s, self.initial_s * 2 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class SinkRunner:
    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str] | None = None,
        *,
        mappings: Sequence[TableMapping] | None = None,
        ignored: Ignored | None = None,
    ):
        settings = self.settings = SinkSettings.extend(settings)
        self.mappings = tuple(mappings or load_mappings())
        self.ignored = load_ignored() if ignored is None else ignored
        self._by_record = {m.record: m for m in self.mappings}
        # record types with a column taken from a message header (sinks/tables.py HEADERS)
        self._headed = frozenset(m.record for m in self.mappings if m.headers)
        self.topics = [settings.topic(t) for t in (topics or default_topics(self.mappings, self.ignored))]
        self.group = settings.kafka.topic_prefix + settings.sink.group
        self.serde = default_serde(settings)
        self.dead_letter_topic = DeadLetterTopic(settings)
        self.writer = BatchWriter(self.group, self.mappings, self.serde, self.dead_letter_topic)
        self.backoff = Backoff(settings.sink.retry_initial_s, settings.sink.retry_max_s)
        self.stats = SinkStats()
        self._batch_rows = settings.sink.batch_rows
        self._batch_s = settings.sink.batch_ms / 1000
        self._buffer = Batch()
        self._routes: dict[str, Route] = {}  # record type -> how its rows enter the buffer
        self._buffer_started = 0.0
        self._inflight: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._conn: asyncpg.Connection | None = None
        self._consumer: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kafka_thread: ThreadPoolExecutor | None = None
        self._assignment: list[TopicPartition] = []
        self._stopping = False
        self._abandon = False
        self._failed = False
        self._paused = False
        self._retrying = False
        self._logged_errors: set[int] = set()
        self._unwritten = 0  # consumed, not committed yet
        self._kafka_offsets: dict[tuple[str, int], int] = {}  # committed to the database, not yet to Kafka
        self._kafka_committed_at = 0.0

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Finish the current batch and return from :meth:`run`; a second call abandons the wait."""
        if self._stopping:
            self._abandon = True
            if self._inflight is not None:
                self._inflight.cancel()
        self._stopping = True

    async def run(self) -> None:
        """Consumes until :meth:`stop`; raises on a fatal error (nothing unwritten is acknowledged)."""
        self._loop = asyncio.get_running_loop()
        self._kafka_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mercado-sink-kafka")
        self._consumer = Consumer(self._consumer_config())
        log.info(
            "sink starting",
            topics=self.topics,
            group=self.group,
            schema=self.settings.db.schema_name,
            ignored_records=sorted(self.ignored.records),
        )
        try:
            await self._with_retry("connect", self._connection)
            self._consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
            while not self._stopping:
                if self._batch_due():
                    await self._hand_off()
                await self._poll(self._poll_timeout())
                self._raise_if_write_failed()
                self._commit_to_kafka()
            await self._drain()
        except SinkStopped:
            if self._unwritten:
                log.warning("sink stopped while waiting for the database; unwritten messages will be read again")
                raise ShutdownIncomplete("stopped before the last batches were written") from None
            log.warning("sink stopped while waiting for the database; nothing was consumed")
        except BaseException:
            self._failed = True
            raise
        finally:
            await self._close()
        log.info("sink stopped", **vars(self.stats))

    async def _drain(self) -> None:
        """Writes what was consumed, within ``sink.shutdown_timeout_s``."""
        try:
            async with asyncio.timeout(self.settings.sink.shutdown_timeout_s):
                if self._buffer.message_count:
                    await self._hand_off()
                await self._wait_for_inflight()
        except (TimeoutError, asyncio.CancelledError) as exc:
            self._failed = True
            if self._inflight is not None:
                self._inflight.cancel()
            raise ShutdownIncomplete(
                f"the last batch was not written within {self.settings.sink.shutdown_timeout_s:g} s; "
                "it will be read again on the next start"
            ) from exc

    async def _close(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        if self._consumer is not None:
            if not self._failed:
                self._commit_to_kafka(now=True)
            try:
                await self._in_kafka_thread(self._consumer.close)  # on_revoke runs: nothing is left to write
            except Exception as exc:  # closing must not hide the reason we stop
                log.warning("consumer close failed", error=str(exc))
        if self._conn is not None and not self._conn.is_closed():
            self._conn.terminate()
        if self._kafka_thread is not None:
            self._kafka_thread.shutdown(wait=False)
        self.dead_letter_topic.close()
        metrics.SINK_PAUSED.set(0)

    def _consumer_config(self) -> dict[str, Any]:
        overrides: dict[str, Any] = {
            "enable.partition.eof": False,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "queued.max.messages.kbytes": 32 * 1024,
            "session.timeout.ms": self.settings.sink.session_timeout_ms,
            "statistics.interval.ms": STATISTICS_INTERVAL_MS,
            "stats_cb": self._on_statistics,
        }
        if self.settings.sink.instance_id:
            overrides["group.instance.id"] = self.settings.sink.instance_id
        return consumer_config(self.settings, self.group, **overrides)

    # ------------------------------------------------------------------ consuming
    def _poll_timeout(self) -> float:
        """Until the batch is due, and never long: a stop is noticed when the poll returns."""
        if not self._buffer.message_count:
            return IDLE_POLL_S
        return min(IDLE_POLL_S, max(0.0, self._buffer_started + self._batch_s - time.monotonic()))

    def _batch_due(self) -> bool:
        count = self._buffer.message_count
        return count >= self._batch_rows or (count > 0 and time.monotonic() - self._buffer_started >= self._batch_s)

    async def _poll(self, timeout: float) -> None:
        assert self._consumer is not None
        wanted = max(1, self._batch_rows - self._buffer.message_count)
        messages = await self._in_kafka_thread(self._consumer.consume, wanted, timeout)
        for start in range(0, len(messages), INGEST_SLICE):
            if start:
                await asyncio.sleep(0)  # a turn for the batch in flight
            self._ingest(messages[start : start + INGEST_SLICE])
        if messages:
            metrics.SINK_UNWRITTEN.set(self._unwritten)

    def _ingest(self, messages: list[Message]) -> None:
        """Decodes and routes messages into the buffer: the hot path. The values are decoded together
        (``decode_many``: column-wise when many share a schema; the same records and errors as one by one)."""
        batch = self._buffer
        if not batch.message_count:
            self._buffer_started = time.monotonic()
        good = [msg for msg in messages if msg.error() is None]
        if len(good) < len(messages):
            for msg in messages:
                err = msg.error()
                if err is not None:
                    self._consumer_error(err)
        routes = self._routes
        headed = self._headed
        offsets = batch.next_offsets
        counts = batch.messages_by_partition
        for msg, decoded in zip(good, self.serde.decode_many([msg.value() for msg in good]), strict=True):
            if type(decoded) is tuple:
                schema, record = decoded
                route = routes.get(schema.fullname) or self._route(schema.fullname)
                if route is None:
                    error = f"no table is mapped for record type {schema.fullname} (sinks/tables.toml)"
                    batch.dead_letters.append(dead_letter(msg, UNMAPPED_RECORD, error, schema.fullname))
                else:
                    add_row, add_message, extract = route
                    if headed and schema.fullname in headed:
                        record[HEADERS] = dict(msg.headers() or ())
                    add_row(extract(record))
                    add_message(msg)
            elif not is_marker(msg.value(), msg.headers()):  # a repartition topic's progress marker: skipped
                assert isinstance(decoded, DecodeError)
                batch.dead_letters.append(dead_letter(msg, decoded.reason, decoded.message))
            key = (msg.topic(), msg.partition())
            offsets[key] = msg.offset() + 1
            counts[key] = counts.get(key, 0) + 1
        batch.message_count += len(good)
        self._unwritten += len(good)

    def _route(self, record_type: str) -> Route | None:
        """Where rows of a record type go in the current buffer; None when no table is mapped for it
        (and it is not ignored: an ignored type's route drops the record)."""
        mapping = self._by_record.get(record_type)
        if mapping is None:
            if record_type in self.ignored.records:
                route = self._routes[record_type] = IGNORE_ROUTE
                return route
            return None
        table = self._buffer.tables[record_type] = TableRows(mapping)
        route = self._routes[record_type] = (table.rows.append, table.messages.append, mapping.extract)
        return route

    def _take_buffer(self) -> Batch:
        """The buffer, replaced by an empty one."""
        batch, self._buffer = self._buffer, Batch()
        self._routes = {}
        return batch

    def _consumer_error(self, err: KafkaError) -> None:
        if err.fatal():
            raise KafkaException(err)
        if err.code() not in self._logged_errors:  # librdkafka retries these itself; say it once per kind
            self._logged_errors.add(err.code())
            log.warning("consumer error", error=err.str())

    async def _in_kafka_thread(self, function: Any, *args: Any) -> Any:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._kafka_thread, function, *args)

    # ------------------------------------------------------------------ handing batches to the writer
    async def _hand_off(self) -> None:
        """Starts writing the buffer once the previous batch is written (one batch in flight).

        The buffer is taken only after that wait: a rebalance during the wait writes it (``on_revoke``)
        while its partitions are still ours."""
        await self._wait_for_inflight()
        if self._buffer.message_count:
            batch = self._take_buffer()
            self._inflight = asyncio.create_task(self._write(batch))

    async def _wait_for_inflight(self) -> None:
        """Waits for the batch in flight. If that takes long (database down or slow), pauses the
        partitions and keeps polling, which serves rebalances and keeps the group membership."""
        task = self._inflight
        if task is None:
            return
        waiting_since = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=PAUSED_POLL_S)
            if task.done():
                break
            if not self._paused and (
                self._retrying or time.monotonic() - waiting_since >= self.settings.sink.pause_after_s
            ):
                self._pause()
            if self._paused:
                await self._poll(0)
        if self._inflight is task:
            self._inflight = None
        task.result()
        if self._paused:
            self._resume()

    def _raise_if_write_failed(self) -> None:
        task = self._inflight
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            self._inflight = None
            task.result()

    def _pause(self) -> None:
        assert self._consumer is not None
        if self._assignment:
            self._consumer.pause(self._assignment)
        self._paused = True
        metrics.SINK_PAUSED.set(1)
        log.warning("consumption paused until the batch in flight is written", partitions=len(self._assignment))

    def _resume(self) -> None:
        assert self._consumer is not None
        if self._assignment:
            self._consumer.resume(self._assignment)
        self._paused = False
        metrics.SINK_PAUSED.set(0)
        log.info("consumption resumed")

    # ------------------------------------------------------------------ writing
    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = None
            conn = await connect(self.settings)
            try:
                await self.writer.prepare(conn, self.settings.db.schema_name)
            except BaseException:
                conn.terminate()
                raise
            self._conn = conn
        return self._conn

    async def _with_retry(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Runs ``operation()`` until it succeeds, retrying transient failures with backoff."""
        attempt = 0
        while True:
            try:
                result = await operation()
                if self._retrying:
                    log.info("database available again", operation=what, attempts=attempt + 1)
                self._retrying = False
                return result
            except Exception as exc:
                if not (is_transient(exc) or isinstance(exc, DeadLetterDeliveryError)):
                    raise
                attempt += 1
                self._retrying = True
                self.stats.retries += 1
                reason = type(exc).__name__
                metrics.SINK_RETRIES.labels(reason).inc()
                delay = self.backoff.delay(attempt)
                log.warning(
                    "database operation failed; retrying",
                    operation=what,
                    attempt=attempt,
                    delay_s=round(delay, 3),
                    error=describe(exc),
                )
                if self._conn is not None:
                    self._conn.terminate()
                    self._conn = None
                if self._abandon or (self._stopping and what != "write"):  # a write gets the shutdown timeout
                    raise SinkStopped from exc
                await asyncio.sleep(delay)

    async def _write(self, batch: Batch) -> None:
        async with self._write_lock:
            started = time.monotonic()

            async def attempt() -> list[DeadLetter]:
                return await self.writer.write(await self._connection(), batch)

            rejected = await self._with_retry("write", attempt)
            self._committed(batch, rejected, time.monotonic() - started)
            await self._refresh_aggregates(batch)

    async def _refresh_aggregates(self, batch: Batch) -> None:
        """After a commit: TimescaleDB aggregates over rows older than their policies' windows. The rows are
        written whatever happens here; a refresh that fails for good is logged (queries still answer
        through real-time aggregation, and a later refresh over those days catches up)."""
        if self.writer.aggregates is None:
            return
        started = time.monotonic()

        async def attempt() -> dict[str, tuple[int, int]]:
            return await self.writer.refresh_aggregates(await self._connection(), batch, time.time_ns() // 1000)

        try:
            windows = await self._with_retry("refresh aggregates", attempt)
        except SinkStopped:
            log.warning("stopping: continuous aggregates of old rows not refreshed")
            return
        except Exception as exc:
            log.warning("continuous aggregate refresh failed", error=describe(exc))
            return
        if windows:
            self.stats.aggregate_refreshes += len(windows)
            log.info(
                "continuous aggregates refreshed for rows older than their policy windows",
                windows={view: [_iso(start), _iso(end)] for view, (start, end) in windows.items()},
                seconds=round(time.monotonic() - started, 3),
            )

    def _committed(self, batch: Batch, rejected: list[DeadLetter], seconds: float) -> None:
        now = time.time()
        self.stats.batches += 1
        self._unwritten -= batch.message_count
        metrics.SINK_UNWRITTEN.set(self._unwritten)
        metrics.SINK_BATCHES.inc()
        metrics.SINK_BATCH_SECONDS.observe(seconds)
        metrics.SINK_BATCH_ROWS.observe(batch.row_count - len(rejected))
        metrics.SINK_LAST_WRITE.set(now)
        rejected_by_table: dict[str, int] = {}
        for letter in rejected:
            rejected_by_table[letter.record_type or ""] = rejected_by_table.get(letter.record_type or "", 0) + 1
        for record_type, table in batch.tables.items():
            written = len(table.rows) - rejected_by_table.get(record_type, 0)
            self.stats.rows += written
            metrics.SINK_ROWS.labels(table.mapping.table).inc(written)
            timestamp_type, timestamp_ms = table.messages[-1].timestamp()
            if timestamp_type and timestamp_ms > 0:
                metrics.PROCESSING_LAG.labels("sink").observe(max(0.0, now - timestamp_ms / 1000))
        for letter in batch.dead_letters + rejected:
            metrics.DEAD_LETTERS.labels(letter.topic, letter.reason).inc()
        self.stats.dead_letters += len(batch.dead_letters) + len(rejected)
        self.stats.ignored += batch.message_count - batch.row_count - len(batch.dead_letters)
        for (topic, _partition), count in batch.messages_by_partition.items():
            metrics.EVENTS_IN.labels(topic, "sink").inc(count)
        self._kafka_offsets.update(batch.next_offsets)

    def _commit_to_kafka(self, *, now: bool = False) -> None:
        """Kafka's committed offsets follow the database's (at most once a second, called from the main
        loop), for lag tools and ``mercado_consumer_lag_messages``; the sink itself never reads them."""
        if not self._kafka_offsets or self._consumer is None:
            return
        started = time.monotonic()
        if not now and started - self._kafka_committed_at < KAFKA_COMMIT_INTERVAL_S:
            return
        owned = {(tp.topic, tp.partition) for tp in self._assignment}
        partitions = [TopicPartition(t, p, o) for (t, p), o in self._kafka_offsets.items() if (t, p) in owned]
        self._kafka_offsets.clear()
        self._kafka_committed_at = started
        if partitions:
            try:
                self._consumer.commit(offsets=partitions, asynchronous=True)
            except KafkaException as exc:
                log.debug("kafka commit skipped", error=str(exc))

    async def _stored_offsets(self) -> dict[tuple[str, int], int]:
        async def read() -> dict[tuple[str, int], int]:
            async with self._write_lock:
                return await self.writer.stored_offsets(await self._connection())

        return await self._with_retry("stored offsets", read)

    async def _flush_before_revoke(self) -> None:
        await self._wait_for_inflight_quietly()
        if self._buffer.message_count:
            batch = self._take_buffer()
            await self._write(batch)

    async def _wait_for_inflight_quietly(self) -> None:
        task = self._inflight
        if task is not None:
            try:
                await asyncio.shield(task)
            finally:
                if self._inflight is task:
                    self._inflight = None

    # ------------------------------------------------------------------ rebalance callbacks (Kafka thread)
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        stored = asyncio.run_coroutine_threadsafe(self._stored_offsets(), self._loop).result()
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        consumer.assign(partitions)
        if self._paused:
            consumer.pause(partitions)
        self._assignment = list(partitions)
        metrics.SINK_ASSIGNED.set(len(partitions))
        log.info(
            "partitions assigned; reading from the offsets stored in the database",
            partitions={f"{tp.topic}[{tp.partition}]": stored.get((tp.topic, tp.partition), "beginning")
                        for tp in partitions},
        )  # fmt: skip

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._loop is not None
        if not self._failed:
            asyncio.run_coroutine_threadsafe(self._flush_before_revoke(), self._loop).result()
        self._assignment = []
        metrics.SINK_ASSIGNED.set(0)
        log.info("partitions revoked", partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])

    def _on_statistics(self, statistics_json: str) -> None:
        statistics = orjson.loads(statistics_json)
        for topic, info in statistics.get("topics", {}).items():
            for partition, figures in info.get("partitions", {}).items():
                lag = figures.get("consumer_lag", -1)
                if partition != "-1" and lag >= 0:
                    metrics.CONSUMER_LAG.labels(self.group, topic, partition).set(lag)
