"""Commands as events, the gateway's side: each accepted request becomes one ``Command`` event on its
owner's command topic, written once per idempotency key.

* **The door.** The event is encoded, validated against its contract and admitted by the same door
  as every input (:class:`~streams.ingest.producer.FileProducer`: ``mercado produce``'s encoding and
  admission, on an idempotent producer), stamped ``mercado-produced-us``, and acknowledged by every
  in-sync replica before the request is answered.
* **Once per key.** The ``commands`` row (migration 0010, the sink materializes the same rows from the
  topic) is inserted in a PostgreSQL transaction that stays open while the event is written: a second
  request with the same key waits for the first, then finds its row (same body: the first command and
  its result are the answer, nothing is written; another body: 409). The event written and the row not
  committed (the gateway killed in between) leaves the event without its row until the sink writes it;
  a retry then writes the event again with the same ``event_id`` — the owners' effects are idempotent
  for it (a mode set twice, an order id already open, a breaker already reset) and the result row is
  kept once.
* **Event time.** ``event_time`` is the gateway's wall clock when the request arrived: the command's
  event time, which the owner's clock follows like any input's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from confluent_kafka import KafkaException, Producer
from fastapi import HTTPException

from gateway.settings import GatewaySettings
from processors import topics
from sinks.database import CONNECT_TIMEOUT_S, search_path
from streams.codec.coerce import RowError
from streams.codec.serde import AvroSerde
from streams.ingest.producer import DeliveryError, DeliveryTracker, FileProducer
from streams.kafka.clients import producer_config
from streams.kafka.headers import PRODUCED_AT_HEADER

#: the owner of each command kind, and its command topic
OWNER_TOPICS = {"risk": topics.RISK_COMMANDS, "recommendations": topics.RECO_COMMANDS,
                "scanner": topics.SCAN_SNAPSHOTS,  # the scanner's commands share its snapshots' log
                "feeds": topics.FEED_COMMANDS}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
COLUMNS = "idempotency_key, event_id, event_time, actor, kind, owner, target, params, body_sha256"


def body_sha256(kind: str, target: str, params: dict[str, str]) -> str:
    """The fingerprint of what a request asks (a repeated key must ask the same)."""
    body = orjson.dumps({"kind": kind, "target": target, "params": params}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Issued:
    command: dict[str, Any]  # the commands row (new or the first one's)
    new: bool


class CommandWriter:
    """Writes commands through the door (one per owner's topic) on one idempotent producer, one command at a
    time, each flushed before the request is answered (blocking calls: run in a thread)."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.tracker = DeliveryTracker()
        self.producer = Producer(producer_config(settings, **{"delivery.report.only.error": True,
                                                              "on_delivery": self.tracker}))
        serde = AvroSerde(registry_url=settings.kafka.schema_registry_url)
        self.doors = {owner: FileProducer(settings, topic, serde=serde, producer=self.producer)
                      for owner, topic in OWNER_TOPICS.items()}
        self._lock = threading.Lock()

    def write(self, command: dict[str, Any]) -> None:
        door = self.doors[command["owner"]]
        with self._lock:
            door.now_us = command["event_time"]  # admission at the time it was received
            row = {"type": "Command", **command} if door.spec.multi_schema else command
            try:
                _, key, event_time, value = door.encode_row(row)
            except RowError as exc:
                raise HTTPException(400, f"the command does not fit its contract: {exc}") from None
            headers = [(PRODUCED_AT_HEADER, str(time.time_ns() // 1000).encode())]
            self.producer.produce(door.topic_name, value, key, timestamp=event_time // 1000, headers=headers)
            left = self.producer.flush(30)
            failed, errors = self.tracker.failed, self.tracker.errors[-1:]
            self.tracker.failed = 0
        if left or failed:
            raise DeliveryError(f"the command was not acknowledged by Kafka: {errors}")

    def close(self) -> None:
        self.producer.flush(10)


class Commands:
    """The command service of one gateway process: the writer and a writable PostgreSQL pool, both opened
    on the first command (a read-only gateway never opens them)."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self._writer: CommandWriter | None = None
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> tuple[CommandWriter, asyncpg.Pool]:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.settings.dsn(), min_size=0, max_size=2, timeout=CONNECT_TIMEOUT_S,
                    server_settings={"search_path": search_path(self.settings), "TimeZone": "UTC",
                                     "application_name": "mercado-api-commands"},
                )
            if self._writer is None:
                self._writer = await asyncio.get_running_loop().run_in_executor(None, CommandWriter, self.settings)
        return self._writer, self._pool

    async def issue(self, key: str, actor: str, kind: str, owner: str, target: str,
                    params: dict[str, str]) -> Issued:
        """The command for ``key``: written now (``new``) or the first one with that key; 409 when the key
        was used for another request."""
        now_us = time.time_ns() // 1000
        digest = body_sha256(kind, target, params)
        command = {"event_id": f"cmd:{key}", "event_time": now_us, "idempotency_key": key, "actor": actor,
                   "kind": kind, "owner": owner, "target": target, "params": params, "body_sha256": digest}
        writer, pool = await self._open()
        try:
            async with pool.acquire() as conn, conn.transaction():
                inserted = await conn.fetchval(
                    f"INSERT INTO commands ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, "
                    "$7, $8::jsonb, $9) ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
                    key, command["event_id"], EPOCH + dt.timedelta(microseconds=now_us), actor, kind, owner, target,
                    orjson.dumps(params).decode(), digest,
                )
                if inserted is None:
                    first = await conn.fetchrow(f"SELECT {COLUMNS} FROM commands WHERE idempotency_key = $1", key)
                    assert first is not None
                    if first["body_sha256"] != digest:
                        raise HTTPException(409, f"Idempotency-Key {key!r} was already used for another request")
                    return Issued(dict(first), False)
                await asyncio.get_running_loop().run_in_executor(None, writer.write, command)
        except asyncpg.UndefinedTableError:
            raise HTTPException(503, "the schema is not migrated yet (run `mercado db migrate`)") from None
        except (DeliveryError, KafkaException, BufferError) as exc:
            raise HTTPException(503, f"Kafka did not take the command; nothing was written ({exc})") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            raise HTTPException(503, "PostgreSQL is unavailable; nothing was written, retry later") from None
        return Issued(command, True)

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.close)
        if self._pool is not None:
            await self._pool.close()
