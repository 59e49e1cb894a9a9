"""Commands as events, the gateway's side: each accepted request becomes one ``Command`` event on its
owner's command topic, written once per idempotency key.

* **The door.** The event is encoded, validated against its contract and admitted by the same door
  as every input (:class:`~streams.ingest.producer.FileProducer`: ``mercado produce``'s encoding and
  admission, on an idempotent producer), stamped ``mercado-produced-us``, and acknowledged by every
  in-sync replica before the request is answered.
* **Once per key.** The key is reserved before the event is written: under a PostgreSQL advisory lock on
  the key (held on one connection for the whole request; released when the gateway's connection ends, so a
  killed gateway never holds it), the ``commands`` row (migration 0010, the sink materializes the same rows
  from the topic) is committed as ``PENDING`` with the end offset of the command's partition (migration
  0011), then the event is written, then the row is marked ``WRITTEN``. A second request with the same key
  waits for the lock, then finds the row: another body is 409; ``WRITTEN``: the first command and its result
  are the answer, nothing is written; ``PENDING`` (a gateway stopped between the reservation and the mark):
  the partition is read from the recorded offset and the event is written only if it is not there, and the
  retry is answered as the first request would have been (202, the first command's time).
* **A slow broker.** A request waits ``gateway.command_timeout_s`` for Kafka's acknowledgement, then answers
  503. The event is still in the producer's queue then and may yet be written, so the key is not let go: the
  lock and the ``PENDING`` row pass to a task that waits for the event's delivery report (librdkafka gives
  one within ``message.timeout.ms``), marks the row ``WRITTEN`` when it was delivered, and only then unlocks.
  A retry in the meantime waits for the lock at most ``command_timeout_s`` and is answered 503 ("still being
  written") rather than reading a log that does not have the event *yet* and writing it a second time. A
  gateway stopped before Kafka decided (its producer flushed first) leaves the row ``PENDING``, as a killed
  one does: the retry reads the log.

  Why reading the log rather than a transactional producer whose ``transactional.id`` is derived from the
  key: fencing aborts only a transaction still *open*; a gateway killed after the commit of its transaction
  and before its PostgreSQL mark leaves the same question (is the event in the log?), which only reading the
  log answers — so the log is read in any case, and a transactional producer per key (an
  ``init_transactions`` round trip per command, a transactional id per key kept by the brokers) would add
  cost and no soundness. The commands are written by an idempotent producer acknowledged by every in-sync
  replica, so what a dead gateway wrote is below the partition's high watermark by the time a retry (which
  waited for the dead connection's lock to be released) reads it.
* **Event time.** ``event_time`` is the gateway's wall clock when the request arrived: the command's
  event time, which the owner's clock follows like any input's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import os
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from fastapi import HTTPException

from gateway.settings import GatewaySettings
from processors import topics
from processors.partitioning import partition_of
from sinks.database import CONNECT_TIMEOUT_S, search_path
from streams.codec.coerce import RowError
from streams.codec.serde import AvroSerde, DecodeError
from streams.ingest.producer import DeliveryError, FileProducer
from streams.kafka.clients import end_reader_config, producer_config
from streams.kafka.consumer import fetch_ready, watermarks
from streams.kafka.headers import PRODUCED_AT_HEADER

#: the owner of each command kind, and its command topic
OWNER_TOPICS = {"risk": topics.RISK_COMMANDS, "recommendations": topics.RECO_COMMANDS,
                "scanner": topics.SCAN_SNAPSHOTS,  # the scanner's commands share its snapshots' log
                "feeds": topics.FEED_COMMANDS}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
COLUMNS = "idempotency_key, event_id, event_time, actor, kind, owner, target, params, body_sha256"
#: a test-only fault: ``exit-after-produce`` ends the gateway process (exit 137, like kill -9) once the
#: command's event is acknowledged and before its row is marked written; ``exit-before-produce``, after the
#: reservation and before the event (tests/integration/test_feed_commands.py); ``delay-produce:S`` hands the
#: event to the producer S seconds late, a broker slower than the request's timeout
#: (tests/integration/test_gateway_commands.py)
FAULT_ENV = "MERCADO_GATEWAY_TEST_FAULT"
log = logging.getLogger("mercado.api")


def body_sha256(kind: str, target: str, params: dict[str, str]) -> str:
    """The fingerprint of what a request asks (a repeated key must ask the same)."""
    body = orjson.dumps({"kind": kind, "target": target, "params": params}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def row_command(row: Any) -> dict[str, Any]:
    """The Command event of a ``commands`` row (the reservation of a request that was stopped)."""
    params = row["params"]
    return {"event_id": row["event_id"], "event_time": (row["event_time"] - EPOCH) // dt.timedelta(microseconds=1),
            "idempotency_key": row["idempotency_key"], "actor": row["actor"], "kind": row["kind"],
            "owner": row["owner"], "target": row["target"],
            "params": orjson.loads(params) if isinstance(params, str) else dict(params),
            "body_sha256": row["body_sha256"]}


@dataclass
class Delivery:
    """One command event handed to the producer: ``done`` once its delivery report came (``error`` if it
    failed)."""

    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.error = f"{msg.topic()}[{msg.partition()}]: {err.str()}"
        self.done.set()


def fault_delay_s() -> float:
    fault = os.environ.get(FAULT_ENV, "")
    return float(fault.partition(":")[2]) if fault.startswith("delay-produce:") else 0.0


@dataclass(frozen=True)
class Issued:
    command: dict[str, Any]  # the commands row (new or the first one's)
    new: bool


class CommandWriter:
    """Writes commands through the door (one per owner's topic) on one idempotent producer, each waited for
    until Kafka acknowledged it (blocking calls: run in a thread)."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.producer = Producer(producer_config(settings))
        serde = AvroSerde(registry_url=settings.kafka.schema_registry_url)
        self.doors = {owner: FileProducer(settings, topic, serde=serde, producer=self.producer)
                      for owner, topic in OWNER_TOPICS.items()}
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None  # reads a command partition back (a retry after a stop)
        self._serde: AvroSerde | None = None

    def send(self, command: dict[str, Any]) -> Delivery:
        """Hands the command's event to the producer; its :class:`Delivery` tells when Kafka decided."""
        door = self.doors[command["owner"]]
        delivery = Delivery()
        with self._lock:
            door.now_us = command["event_time"]  # admission at the time it was received
            row = {"type": "Command", **command} if door.spec.multi_schema else command
            try:
                _, key, event_time, value = door.encode_row(row)
            except RowError as exc:
                raise HTTPException(400, f"the command does not fit its contract: {exc}") from None
            headers = [(PRODUCED_AT_HEADER, str(time.time_ns() // 1000).encode())]
            produce = functools.partial(self.producer.produce, door.topic_name, value, key,
                                        timestamp=event_time // 1000, headers=headers, on_delivery=delivery)
        if delay := fault_delay_s():
            threading.Timer(delay, produce).start()
        else:
            produce()
        return delivery

    def wait(self, delivery: Delivery, timeout_s: float) -> bool:
        """True once the event is acknowledged; False when Kafka has not decided within ``timeout_s`` (the
        event may still be written); DeliveryError when it failed."""
        deadline = time.monotonic() + timeout_s
        while not delivery.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.producer.poll(min(left, 0.1))  # serves the delivery reports (thread-safe)
        if delivery.error is not None:
            raise DeliveryError(f"the command was not acknowledged by Kafka: {delivery.error}")
        return True

    def _reader(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(end_reader_config(self.settings, f"{self.settings.kafka.topic_prefix}"
                                                        "mercado-api-commands-reader"))
        return self._consumer

    def _released_serde(self) -> AvroSerde:
        if self._serde is None:
            from streams.kafka.consumer import default_serde

            self._serde = default_serde(self.settings)
        return self._serde

    def log_position(self, owner: str, target: str) -> tuple[int, int]:
        """The partition a command of ``owner`` keyed ``target`` goes to, and its end offset now."""
        name = self.doors[owner].topic_name
        with self._lock:
            reader = self._reader()
            count = len(reader.list_topics(name, timeout=10).topics[name].partitions)
            partition = partition_of(target, count)
            return partition, watermarks(reader, TopicPartition(name, partition), timeout=10)[1]

    def _records(self, name: str, partition: int, offset: int) -> Any:
        """``(key, schema, record)`` of each event of ``name[partition]`` from ``offset`` to the partition's end
        as it is now (events of any released version; an undecodable one has schema None). Holds the lock."""
        reader = self._reader()
        end = watermarks(reader, TopicPartition(name, partition), timeout=10)[1]
        if end <= offset:
            return
        reader.assign([TopicPartition(name, partition, offset)])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                for msg in fetch_ready(reader, 500, 1.0):
                    if msg.error():
                        if msg.error().code() == -191:  # _PARTITION_EOF
                            return
                        continue
                    if msg.value() is not None:
                        try:
                            schema, record = self._released_serde().decode(msg.value())
                        except DecodeError:
                            schema, record = None, {}
                        yield msg.key(), schema, record
                    if msg.offset() + 1 >= end:
                        return
            raise DeliveryError(f"could not read {name}[{partition}] from {offset} to {end} in 30 s")
        finally:
            reader.unassign()

    def in_log(self, owner: str, key: str, partition: int, offset: int) -> bool:
        """Whether the command of ``key`` is in its partition at or after ``offset`` (read to the partition's
        end as it is now)."""
        with self._lock, closing(self._records(self.doors[owner].topic_name, partition, offset)) as records:
            return any(schema is not None and schema.fullname == "mercado.commands.Command"
                       and record["idempotency_key"] == key for _, schema, record in records)

    def served(self, venue: str) -> list[str] | None:
        """The symbols of the latest announcement of a feed that serves ``venue`` (feeds.served.v1,
        streams/feeds/commands.py), or None when no feed ever announced it."""
        name = self.settings.topic(topics.FEEDS_SERVED)
        with self._lock:
            reader = self._reader()
            meta = reader.list_topics(name, timeout=10).topics.get(name)
            if meta is None or meta.error is not None or not meta.partitions:
                return None  # (the topic is made by `mercado topics create`: no feed ever announced)
            partition = partition_of(venue, len(meta.partitions))
            low = watermarks(reader, TopicPartition(name, partition), timeout=10)[0]
            symbols = None
            for key, schema, record in self._records(name, partition, low):
                if key == venue.encode() and schema is not None and schema.fullname == "mercado.commands.FeedServing":
                    symbols = list(record["symbols"])
            return symbols

    def close(self) -> None:
        self.producer.flush(10)
        if self._consumer is not None:
            self._consumer.close()


class Commands:
    """The command service of one gateway process: the writer and a writable PostgreSQL pool, both opened
    on the first command (a read-only gateway never opens them)."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self._writer: CommandWriter | None = None
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._settling: set[asyncio.Task[None]] = set()  # keys held until Kafka decides (a slow broker)

    async def _open(self) -> tuple[CommandWriter, asyncpg.Pool]:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.settings.dsn(), min_size=0, max_size=4, timeout=CONNECT_TIMEOUT_S,
                    server_settings={"search_path": search_path(self.settings), "TimeZone": "UTC",
                                     "application_name": "mercado-api-commands"},
                )
            if self._writer is None:
                self._writer = await asyncio.get_running_loop().run_in_executor(None, CommandWriter, self.settings)
        return self._writer, self._pool

    async def issue(self, key: str, actor: str, kind: str, owner: str, target: str,
                    params: dict[str, str]) -> Issued:
        """The command for ``key``: written now (``new``; also when a previous request with the key was stopped
        before it was written or marked) or the first one with that key; 409 when the key was used for another
        request."""
        now_us = time.time_ns() // 1000
        digest = body_sha256(kind, target, params)
        command = {"event_id": f"cmd:{key}", "event_time": now_us, "idempotency_key": key, "actor": actor,
                   "kind": kind, "owner": owner, "target": target, "params": params, "body_sha256": digest}
        writer, pool = await self._open()
        loop = asyncio.get_running_loop()
        timeout_s = self.settings.gateway.command_timeout_s
        lock_sql = "hashtextextended('mercado-command:' || $1, 0)"
        try:
            conn = await pool.acquire(timeout=timeout_s)
            handed_over = False  # to the task that waits for a slow broker's decision
            try:
                # one request per key at a time; a session lock, released by PostgreSQL if this process dies.
                # Polled (pg_try_advisory_lock) rather than waited for, so that a retry behind a slow broker is
                # answered within the timeout, and no cancelled wait can leave the lock held on a pooled connection
                deadline = time.monotonic() + timeout_s
                while not await conn.fetchval(f"SELECT pg_try_advisory_lock({lock_sql})", key):
                    if time.monotonic() > deadline:
                        raise HTTPException(503, f"a request with Idempotency-Key {key!r} is still being written "
                                            "(Kafka has not acknowledged it yet); retry later with the same key")
                    await asyncio.sleep(0.05)
                try:
                    first = await conn.fetchrow(
                        f"SELECT {COLUMNS}, status, log_partition, log_offset FROM commands "
                        "WHERE idempotency_key = $1", key)
                    if first is None:
                        partition, offset = await loop.run_in_executor(None, writer.log_position, owner, target)
                        await conn.execute(
                            f"INSERT INTO commands ({COLUMNS}, status, log_partition, log_offset) VALUES ($1, $2, "
                            "$3, $4, $5, $6, $7, $8::jsonb, $9, 'PENDING', $10, $11)",
                            key, command["event_id"], EPOCH + dt.timedelta(microseconds=now_us), actor, kind, owner,
                            target, orjson.dumps(params).decode(), digest, partition, offset)
                        present = False  # reserved just now: nobody wrote it
                    else:
                        if first["body_sha256"] != digest:
                            raise HTTPException(409, f"Idempotency-Key {key!r} was already used for another request")
                        if first["status"] == "WRITTEN":
                            return Issued(dict(first), False)
                        # reserved by a request that stopped before marking it: written or not?
                        command = row_command(first)
                        present = await loop.run_in_executor(None, writer.in_log, owner, key,
                                                             first["log_partition"], first["log_offset"])
                    fault = os.environ.get(FAULT_ENV)
                    if fault == "exit-before-produce":
                        os._exit(137)
                    if not present:
                        delivery = await loop.run_in_executor(None, writer.send, command)
                        if not await loop.run_in_executor(None, writer.wait, delivery, timeout_s):
                            handed_over = True
                            task = asyncio.create_task(self._settle(conn, key, delivery))
                            self._settling.add(task)
                            task.add_done_callback(self._settling.discard)
                            raise HTTPException(503, f"Kafka has not acknowledged the command within {timeout_s:g} s;"
                                                " it may yet be written: retry with the same key (never a new one)")
                    if fault == "exit-after-produce":
                        os._exit(137)
                    await conn.execute("UPDATE commands SET status = 'WRITTEN' WHERE idempotency_key = $1", key)
                finally:
                    if not handed_over:
                        await conn.execute(f"SELECT pg_advisory_unlock({lock_sql})", key)
            finally:
                if not handed_over:
                    await pool.release(conn)
        except asyncpg.UndefinedTableError:
            raise HTTPException(503, "the schema is not migrated yet (run `mercado db migrate`)") from None
        except asyncpg.UndefinedColumnError:
            raise HTTPException(503, "the schema is not migrated to 0011 yet (run `mercado db migrate`)") from None
        except (DeliveryError, KafkaException, BufferError) as exc:
            raise HTTPException(503, f"Kafka did not take the command; retry with the same key ({exc})") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            raise HTTPException(503, "PostgreSQL is unavailable; retry later with the same key") from None
        return Issued(command, True)

    async def served(self, venue: str) -> list[str] | None:
        """The symbols a feed that acts on commands announced for ``venue``; None when none did."""
        writer, _ = await self._open()
        try:
            return await asyncio.get_running_loop().run_in_executor(None, writer.served, venue)
        except (DeliveryError, KafkaException) as exc:
            raise HTTPException(503, f"Kafka is unavailable; retry later ({exc})") from None

    async def _settle(self, conn: asyncpg.Connection, key: str, delivery: Delivery) -> None:
        """Holds ``key`` (its lock, on ``conn``) until Kafka decided on its event: marks the row WRITTEN when the
        event was delivered; leaves it PENDING when it failed (a retry reads the log, finds it absent, writes it)."""
        assert self._writer is not None and self._pool is not None
        loop = asyncio.get_running_loop()
        try:
            while not await loop.run_in_executor(None, self._writer.wait, delivery, 10.0):
                pass  # librdkafka reports every message within message.timeout.ms
            await conn.execute("UPDATE commands SET status = 'WRITTEN' WHERE idempotency_key = $1", key)
        except DeliveryError as exc:
            log.warning("command %s was not written: %s", key, exc)
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended('mercado-command:' || $1, 0))", key)
            finally:
                await self._pool.release(conn)

    async def close(self) -> None:
        if self._writer is not None:  # flushed first: what is in flight is decided before a key is let go
            await asyncio.get_running_loop().run_in_executor(None, self._writer.close)
        if self._settling:  # a key whose event is still undecided is released with the pool's connections
            await asyncio.wait(self._settling, timeout=5)
            for task in self._settling:
                task.cancel()
        if self._pool is not None:
            await self._pool.close()
