"""WebSocket push (``/api/v1/ws``): one read_committed Kafka consumer per gateway process feeds every client.

Channels (names a client subscribes to):

- ``bars:<venue>:<symbol>:<interval_s>`` every bar of an instrument and interval (snapshot: the latest bar);
- ``ticks:<venue>:<symbol>`` every price tick (snapshot: the latest tick);
- ``alerts`` every alert of every pipeline (snapshot: the latest 50);
- ``breakers`` every breaker transition (snapshot: the latest transition of each breaker and scope);
- ``opportunities:<critical|important|tracking>`` opportunity revisions, re-validations and closures of a
  tier (snapshot: the open opportunities of the tier);
- ``scanner:<PRE_MARKET|REGULAR|POST_MARKET>:<category>`` the scanner board's deltas (ScanDelta: tickers
  ENTERED / LEFT / MOVED, each with the scanner's own ``sequence``) of a session and category (snapshot: the
  board's ScanResult lines of that session and category, each scanner's in rank order);
- ``recommendations`` every daily Recommendation as the job writes it (snapshot: the latest recommendation
  of each ticker, oldest first).

The scanner board itself (``scanner.results.v1``, compacted) is read whole when the consumer starts and
kept up to date from the topic (``hub.board``: ``/api/v1/scanner/board`` serves it); a scanner snapshot is
taken from it, so it may already show a change whose delta follows it: a client applies a delta's changes
by ticker (ENTERED and MOVED set the rank, LEFT removes), which makes a repeat harmless. Results and deltas
are two topics: within a fetch, each batch's results are applied before its deltas are published, but a
delta fetched one poll (~50 ms) before its results leaves a snapshot taken in between a step behind (until
that board's next delta or a re-subscribe).

A channel's first subscriber in a process reads its snapshot from the sink's database (gateway/seed.py:
in the events' shape; ticks are not stored, their snapshot starts empty); from then on the process keeps
it up to date from the topic.

Protocol (JSON text frames). The client authenticates with ``Authorization: Bearer <key>`` on the
handshake, or with ``{"op": "auth", "token": "<key>"}`` as its first message (browsers cannot set
headers); an unknown, expired or missing key closes the socket with 4001, a key without the read role
with 4003. Then ``{"op": "subscribe", "channels": [...], "since": {"<channel>": <seq>}, "epoch": "<epoch>"}``:
each channel answers with ``{"type": "snapshot", "channel", "seq", "epoch", "data": [...]}``, or — when
``since`` is given, the epoch is this process's and the channel's ring still holds every change after
``since`` — with those changes; after that every change comes as ``{"type": "event", "channel", "seq",
"epoch", "data": {...}}``, ``seq`` growing by one per change of the channel. ``{"op": "unsubscribe",
"channels": [...]}`` stops a channel. ``{"type": "heartbeat"}`` comes after ``heartbeat_s`` without other
traffic. ``data`` is the event's Avro record as JSON (timestamps in microseconds since the epoch,
decimals as strings).

Sequence numbers belong to one process (its ``epoch``): a client reconnecting to another process behind
the load balancer gets a snapshot. Memory per client is bounded: a client's outbox holds at most
``push_queue`` messages; when a slow client's outbox is full it is conflated to the latest message of each
of its channels (the client sees a jump in ``seq`` and may re-subscribe with ``since`` to fetch the missed
changes from the ring). A client is never awaited by the consumer: a change is framed once and written
straight to each subscriber's transport when that socket can take it now (uvicorn's sans-I/O protocol, not
paused, nothing queued before it); otherwise it waits in the client's outbox for the client's own sender task.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import struct
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from gateway.auth import Role, bearer_token
from gateway.settings import GatewaySettings
from processors import topics
from streams.runtime.heap import freeze_heap

log = logging.getLogger("mercado.api.push")
router = APIRouter(tags=["push"])

TIERS = ("critical", "important", "tracking")
CHANNEL = re.compile(
    r"^(bars:[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_./-]{1,32}:[0-9]{1,6}|ticks:[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_./-]{1,32}"
    r"|alerts|breakers|opportunities:(critical|important|tracking)"
    r"|scanner:(PRE_MARKET|REGULAR|POST_MARKET):[A-Za-z][A-Za-z0-9_]{0,63}"
    r"|recommendations)$"
)
MAX_CHANNELS = 10_000  # per process: a subscription to a channel no event has named yet creates it
MAX_SUBSCRIPTIONS = 200  # per client
RECENT_ALERTS = 50
MAX_OPEN_OPPORTUNITIES = 20_000  # per tier: the oldest leave the snapshot first
PUSH_TOPICS = (topics.TICKS, topics.BARS, topics.MD_ALERTS, topics.RISK_ALERTS, topics.BREAKERS, topics.OPPORTUNITIES,
               topics.SCAN_RESULTS, topics.SCAN_DELTAS, topics.RECOMMENDATIONS)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message, default=_json_default).decode()


class Channel:
    """A channel's sequence, its ring of recent changes and its snapshot state, and who listens."""

    def __init__(self, name: str, ring: int):
        self.name = name
        self.seq = 0
        self.ring: deque[tuple[int, str]] = deque(maxlen=ring)
        self.subscribers: set[Client] = set()
        kind = name.split(":", 1)[0]
        self.latest: dict[str, dict[str, Any]] = OrderedDict()  # snapshot item key -> record
        self.seeding: asyncio.Future[None] | None = None  # the database snapshot, read once per process
        self.keep = {"bars": 1, "ticks": 1, "alerts": RECENT_ALERTS}.get(kind, MAX_OPEN_OPPORTUNITIES)

    def remember(self, item: str | None, record: dict[str, Any] | None) -> None:
        """Snapshot state: ``record`` is the latest of ``item`` (None: the item leaves the snapshot)."""
        if item is None:
            return
        if self.keep == 1 and record is not None:  # bars, ticks: the latest is the one (the hot path)
            self.latest = {item: record}
            return
        self.latest.pop(item, None)
        if record is not None:
            self.latest[item] = record
            while len(self.latest) > self.keep:
                self.latest.pop(next(iter(self.latest)))

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.latest.values())

    def seed(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Older state from the database under what this process has seen (which wins)."""
        if self.keep == 1 and self.latest:
            return
        merged: OrderedDict[str, dict[str, Any]] = OrderedDict((k, r) for k, r in items if k not in self.latest)
        merged.update(self.latest)
        while len(merged) > self.keep:
            merged.popitem(last=False)
        self.latest = merged


def text_frame(text: str) -> bytes:
    """The bytes of an unmasked, uncompressed WebSocket text frame carrying ``text`` (RFC 6455 section 5.2: FIN and
    opcode 1, then the length in 7, 7+16 or 7+64 bits): the same for every socket a server writes it to, so a
    change is framed once for all its subscribers. Written by hand: websockets' ``Frame.serialize`` builds it
    through a BytesIO with its checks, ~5 % of the push path's CPU at 1,000 clients (the unit tests compare
    the two)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return _SHORT.pack(0x81, 126, n) + data
    return _LONG.pack(0x81, 127, n) + data


_SHORT, _LONG = struct.Struct("!BBH"), struct.Struct("!BBQ")


def transport_of(websocket: Any) -> Any:
    """The server's protocol object behind a Starlette WebSocket when it is uvicorn's sans-I/O one (``transport``,
    ``conn``, ``writable``), with no extension negotiated (no compression): frames may then be written to its
    transport directly. None otherwise (another server, compression on): every message goes through ASGI.

    ASGI has no call for "write these bytes": each message through it is a coroutine chain down to the
    protocol, woken from a task per client — ~2/3 of the push path's cost at 1,000 clients (py-spy)."""
    seen: set[int] = set()
    todo = [getattr(websocket, "_receive", None), getattr(websocket, "_send", None)]
    for _ in range(64):
        if not todo:
            break
        fn = todo.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        owner = getattr(fn, "__self__", None)
        if owner is not None and all(hasattr(owner, a) for a in ("transport", "conn", "writable", "close_sent")):
            extensions = getattr(owner.conn, "extensions", None)
            return owner if extensions == [] else None
        todo.extend(c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if callable(c.cell_contents))
        if owner is not None:
            todo.extend(v for v in vars(owner).values() if callable(v)) if hasattr(owner, "__dict__") else None
    return None


class Client:
    """One socket's outbox: bounded, conflated to the latest message per channel when it overflows.

    When the socket can take a frame now (``direct``: uvicorn's protocol, its transport not paused, nothing
    queued or being sent before), :meth:`offer` writes it to the transport at once: no task wakes. Otherwise
    the message waits in the outbox for :meth:`pump`, which sends through ASGI (and waits while the socket's
    buffer is full: that is when a slow client's outbox conflates)."""

    def __init__(self, websocket: WebSocket, cap: int, heartbeat_s: float, direct: Any = None):
        self.websocket = websocket
        self.cap = cap
        self.heartbeat_s = heartbeat_s
        self.outbox: deque[tuple[str, str]] = deque()
        self.wake = asyncio.Event()
        self.channels: set[str] = set()
        self.conflations = 0
        self.sent = 0
        self.clock = time.monotonic
        self.last_sent = self.clock()
        self.direct = direct
        self.sending = False  # the pump holds a message it is sending through ASGI

    def offer(self, channel: str, text: str, *, force: bool = False, frame: bytes | None = None) -> None:
        direct = self.direct
        if (direct is not None and not self.outbox and not self.sending and direct.writable.is_set()
                and not direct.close_sent and not direct.transport.is_closing()):  # fmt: skip
            direct.transport.write(frame if frame is not None else text_frame(text))
            self.sent += 1
            self.last_sent = self.clock()
            return
        if len(self.outbox) >= self.cap and not force:
            latest: OrderedDict[str, str] = OrderedDict()
            for name, queued in self.outbox:
                latest.pop(name, None)
                latest[name] = queued
            latest.pop(channel, None)
            latest[channel] = text
            self.outbox = deque(latest.items())
            self.conflations += 1
        else:
            self.outbox.append((channel, text))
        self.wake.set()

    async def pump(self) -> None:
        """Sends the outbox in order (a silent client's heartbeat comes from ``PushHub.heartbeats``)."""
        send = self.websocket.send_text
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox:
                _channel, text = self.outbox.popleft()
                self.sending = True
                try:
                    await send(text)
                finally:
                    self.sending = False
                self.sent += 1
            self.last_sent = self.clock()


def route(topic: str, schema: str, record: dict[str, Any]) -> Iterable[tuple[str, str | None, dict[str, Any] | None]]:
    """(channel, snapshot item key, snapshot record or None to drop the item) of one event."""
    if topic == topics.TICKS:
        if schema == "PriceTick":
            yield f"ticks:{record['venue']}:{record['symbol']}", "tick", record
    elif topic == topics.BARS:
        yield f"bars:{record['venue']}:{record['symbol']}:{record['interval_s']}", "bar", record
    elif topic in (topics.MD_ALERTS, topics.RISK_ALERTS):
        if schema == "Alert":
            yield "alerts", record["event_id"], record
    elif topic == topics.BREAKERS:
        if schema == "BreakerTransition":
            yield "breakers", f"{record['venue']}|{record['breaker']}|{record['scope']}", record
    elif topic == topics.SCAN_DELTAS:
        if schema == "ScanDelta":  # the snapshot is the board's (PushHub.board), not the channel's memory
            yield f"scanner:{record['session']}:{record['category']}", None, None
    elif topic == topics.RECOMMENDATIONS:
        if schema == "Recommendation":  # a date's re-run repeats the same event: the ticker's latest stays
            yield "recommendations", record["ticker"], record


class PushHub:
    """The process's consumer thread, its channels and its clients (all touched on the event loop only)."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.epoch = uuid.uuid4().hex[:12]
        self.channels: dict[str, Channel] = {}
        self.clients: set[Client] = set()
        self.opportunity_tier: OrderedDict[str, str] = OrderedDict()  # open opportunity -> its tier's channel
        self.published = 0
        self.ready = asyncio.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._beats: asyncio.Task[None] | None = None
        self.missing_topics: list[str] = []
        self.db: Any = None  # gateway.db.Database: snapshots of channels this process has not seen yet
        self.board: dict[bytes, dict[str, Any]] | None = None  # scanner.results.v1: key -> its last ScanResult
        self.board_error: str | None = "still reading scanner.results.v1"
        self.frozen_clients = 0  # clients connected at the last gc.freeze (refreeze)

    # ------------------------------------------------------------------ consumer thread
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._consume, name="mercado-api-push", daemon=True)
        self._thread.start()
        self._beats = asyncio.create_task(self.heartbeats())

    async def stop(self) -> None:
        self._stop.set()
        if self._beats is not None:
            self._beats.cancel()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _consume(self) -> None:
        from confluent_kafka import Consumer, KafkaError, TopicPartition
        from confluent_kafka.admin import AdminClient

        from streams.codec.serde import DecodeError
        from streams.kafka.clients import admin_config, consumer_config
        from streams.kafka.compacted import read_latest
        from streams.kafka.consumer import default_serde, end_offsets, fetch_ready
        from streams.kafka.headers import is_marker

        settings = self.settings
        consumer = None
        try:
            while consumer is None and not self._stop.is_set():
                try:
                    existing = set(AdminClient(admin_config(settings)).list_topics(timeout=5).topics)
                except Exception as exc:  # noqa: BLE001 — the broker is down: try again, the API still serves
                    log.warning("push: cannot reach Kafka (%s); retrying", exc)
                    self._stop.wait(2)
                    continue
                names = [settings.topic(t) for t in PUSH_TOPICS]
                self.missing_topics = [n for n in names if n not in existing]
                present = [n for n in names if n in existing]
                if self.missing_topics:
                    log.warning("push: topics missing, their channels stay empty: %s", self.missing_topics)
                # read_committed (consumer_config), from each partition's current end given explicitly, so
                # "ready" means every event committed after it reaches the clients; a fetch returns after
                # 5 ms at most (the default 500 ms would be the latency of a quiet topic)
                ends = end_offsets(settings, present) if present else {}
                results = settings.topic(topics.SCAN_RESULTS)
                if results in present:  # read after `ends`: the consumer re-applies, last value per key wins
                    try:
                        board = read_latest(settings, topics.SCAN_RESULTS)
                        self._loop.call_soon_threadsafe(self.load_board, board)  # type: ignore[union-attr]
                    except Exception as exc:  # noqa: BLE001 — no board; every other channel still works
                        log.warning("push: cannot read the scanner board: %s", exc)
                        self.board_error = f"cannot read {results}"
                else:
                    self.board_error = f"no topic {results}"
                quick = {"fetch.wait.max.ms": 5, "enable.partition.eof": False}
                consumer = Consumer(consumer_config(settings, f"mercado-api-push-{self.epoch}", **quick))
                consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in ends.items()])
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.ready.set)
            serde = default_serde(settings)
            prefix = settings.kafka.topic_prefix
            results = settings.topic(topics.SCAN_RESULTS)
            while not self._stop.is_set() and consumer is not None:
                batch = []
                board: list[tuple[bytes, dict[str, Any] | None]] = []
                kept = []
                for msg in fetch_ready(consumer, 2000, 0.05):  # not consume(2000, 0.05): it waits 50 ms
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("push: consumer error: %s", err.str())
                        continue
                    if is_marker(msg.value(), msg.headers()):
                        continue
                    if msg.value() is not None or msg.topic() == results:  # a tombstone means something there only
                        kept.append(msg)
                # a fetch's values decoded together (column-wise per schema: ~4x faster than one by one)
                decoded = iter(serde.decode_many([m.value() for m in kept if m.value() is not None]))
                for msg in kept:
                    if msg.value() is None:  # the board's tombstone, in its place among the board's records
                        board.append((msg.key(), None))
                        continue
                    one = next(decoded)
                    if isinstance(one, DecodeError):  # the sink dead-letters it; push skips it
                        continue
                    schema, record = one
                    if msg.topic() == results:
                        board.append((msg.key(), record))
                    else:
                        batch.append((msg.topic().removeprefix(prefix), schema.name, record))
                if board:  # before the batch's deltas: a snapshot after them holds their results
                    self._loop.call_soon_threadsafe(self.apply_board, board)
                if batch:
                    self._loop.call_soon_threadsafe(self.publish, batch)
        except Exception:  # noqa: BLE001 — logged; the REST API keeps serving without push
            log.exception("push: the consumer stopped")
        finally:
            if consumer is not None:
                consumer.close()

    # ------------------------------------------------------------------ on the event loop
    async def heartbeats(self) -> None:
        """Offers a heartbeat to each client silent for ``heartbeat_s`` (checked 4 times per period, at least
        once a second). One timer for all: a wait with a timeout in every client's sender made a task per wake
        (~8 % of the CPU under load). The same timer keeps the connections' objects out of full collections
        (:meth:`refreeze`)."""
        while True:
            await asyncio.sleep(min(1.0, self.settings.gateway.heartbeat_s / 4))
            self.beat(time.monotonic())
            if self.settings.gateway.gc_freeze:
                self.refreeze(len(self.clients))

    def refreeze(self, clients: int, freeze: Callable[[], None] = gc.freeze, thaw: Callable[[], None] | None = None) -> str | None:  # fmt: skip  # noqa: E501
        """Keeps the garbage collector's full collections cheap as clients come and go; returns what it did.

        Each connection holds ~225 objects the collector tracks (its ASGI coroutine chain, tasks, futures,
        uvicorn's protocol): with 1,000 clients a full (generation 2) collection walked ~225,000 objects and
        stopped the event loop, i.e. every client's push, for 0.1-0.5 s every few seconds under load (bench.gateway:
        most of the tick p99). So when the clients have grown by a quarter since the last time (and at least 16),
        everything alive is moved to the permanent generation (``gc.freeze``: O(1), no collection); a frozen
        object is still freed by its reference count when its client leaves, only a reference cycle among frozen
        objects waits. When the clients have halved since, ``thaw`` unfreezes, collects once (that one pause
        frees what such cycles left) and freezes again."""
        if clients >= max(16, self.frozen_clients * 5 // 4 + 1):
            freeze()
        elif clients < self.frozen_clients // 2:
            if thaw is None:
                gc.unfreeze()
                freeze_heap()
            else:
                thaw()
        else:
            return None
        action = "froze" if clients > self.frozen_clients else "thawed"
        self.frozen_clients = clients
        return action

    def beat(self, now: float) -> None:
        text = None
        for client in self.clients:
            if now - client.last_sent >= client.heartbeat_s and not client.outbox:
                text = text or dumps({"type": "heartbeat", "time_us": time.time_ns() // 1000})
                client.last_sent = now
                client.offer("_heartbeat", text, force=True)

    def load_board(self, board: dict[bytes, dict[str, Any]]) -> None:
        self.board, self.board_error = board, None

    def apply_board(self, changes: list[tuple[bytes, dict[str, Any] | None]]) -> None:
        """ScanResult lines (None: a tombstone) of ``scanner.results.v1``, in log order."""
        if self.board is None:
            return
        for key, record in changes:
            if record is None:
                self.board.pop(key, None)
            else:
                self.board[key] = record

    def snapshot(self, ch: Channel) -> list[dict[str, Any]]:
        if not ch.name.startswith("scanner:"):
            return ch.snapshot()
        from gateway.routes.scanner import ranked

        _, session, category = ch.name.split(":", 2)
        lines = (self.board or {}).values()
        return [r for _name, ordered in ranked(lines, session=session, category=category) for r in ordered]

    def channel(self, name: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None:
            if len(self.channels) >= MAX_CHANNELS:
                raise ValueError("too many channels on this process")
            ch = self.channels[name] = Channel(name, self.settings.gateway.push_ring)
        return ch

    def _routes(self, topic: str, schema: str, record: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
        if topic != topics.OPPORTUNITIES:
            return list(route(topic, schema, record))
        oid = record["opportunity_id"]
        before = self.opportunity_tier.get(oid)
        if schema == "ArbitrageOpportunityClosed":
            self.opportunity_tier.pop(oid, None)
            return [(before, oid, None)] if before else []
        now = f"opportunities:{str(record['tier']).lower()}"
        self.opportunity_tier.pop(oid, None)
        self.opportunity_tier[oid] = now
        while len(self.opportunity_tier) > MAX_OPEN_OPPORTUNITIES * len(TIERS):
            self.opportunity_tier.popitem(last=False)
        out: list[tuple[str, str | None, Any]] = [(now, oid, record)]
        if before and before != now:  # the opportunity moved to another tier: it leaves the old one
            out.append((before, oid, None))
        return out

    def publish(self, batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        epoch = self.epoch
        for topic, schema, record in batch:
            for name, item, kept in self._routes(topic, schema, record):
                try:
                    ch = self.channel(name)
                except ValueError:
                    continue
                ch.seq += 1
                text = dumps({"type": "event", "channel": name, "seq": ch.seq, "epoch": epoch, "data": record})
                ch.ring.append((ch.seq, text))
                ch.remember(item, kept)
                if ch.subscribers:
                    frame = text_frame(text)  # framed once for every subscriber written to directly
                    for client in ch.subscribers:
                        client.offer(name, text, frame=frame)
                self.published += 1

    async def subscribe(self, client: Client, names: list[str], since: dict[str, int], epoch: str | None) -> None:
        """Reads the database snapshot of channels new to this process (once each), then :meth:`attach`."""
        for name in names:
            ch = self.channel(name)
            if ch.seeding is None:
                ch.seeding = asyncio.ensure_future(self._seed(ch))
            await asyncio.shield(ch.seeding)
        self.attach(client, names, since, epoch)

    async def _seed(self, ch: Channel) -> None:
        from gateway.seed import item_key, seed_query, to_record

        query = seed_query(ch.name)
        if self.db is None or query is None:
            return
        sql, args, mapping = query
        try:
            rows = await self.db.fetch(sql, *args)
        except Exception as exc:  # noqa: BLE001 — no database snapshot: the channel starts from what comes
            log.warning("push: no database snapshot for %s: %s", ch.name, getattr(exc, "detail", exc))
            return
        items = [(item_key(ch.name, r), r) for r in (to_record(mapping, row) for row in rows)]
        ch.seed(items)
        if ch.name.startswith("opportunities:"):
            for oid, _record in items:
                self.opportunity_tier.setdefault(oid, ch.name)

    def attach(self, client: Client, names: list[str], since: dict[str, int], epoch: str | None) -> None:
        """Snapshot or missed changes of each channel into the client's outbox, then its changes as they come."""
        for name in names:
            ch = self.channel(name)
            last = since.get(name)
            ring = ch.ring
            resumable = (
                last is not None and epoch == self.epoch and 0 <= last <= ch.seq
                and (last == ch.seq or (ring and ring[0][0] <= last + 1))
            )  # fmt: skip
            if resumable:
                for seq, text in ring:
                    if seq > last:
                        client.offer(name, text, force=True)
            else:
                snapshot = {"type": "snapshot", "channel": name, "seq": ch.seq, "epoch": self.epoch,
                            "data": self.snapshot(ch)}  # fmt: skip
                client.offer(name, dumps(snapshot), force=True)
            ch.subscribers.add(client)
            client.channels.add(name)

    def unsubscribe(self, client: Client, names: Iterable[str]) -> None:
        for name in list(names):
            ch = self.channels.get(name)
            if ch is not None:
                ch.subscribers.discard(client)
            client.channels.discard(name)


def _ops_error(detail: str) -> str:
    return dumps({"type": "error", "detail": detail})


async def _authenticate(websocket: WebSocket, timeout_s: float) -> tuple[bool, int, str]:
    """(ok, close code, reason) for the socket's key: the handshake's header, else a first ``auth`` message."""
    token = bearer_token(websocket.headers.get("authorization"))
    if token is None:
        try:
            first = orjson.loads(await asyncio.wait_for(websocket.receive_text(), timeout_s))
            token = first.get("token") if isinstance(first, dict) and first.get("op") == "auth" else None
        except (TimeoutError, orjson.JSONDecodeError, KeyError):
            token = None
        if not isinstance(token, str):
            return False, 4001, 'authenticate first: {"op": "auth", "token": "<key>"}'
    try:
        principal = websocket.app.state.keys.authenticate(token)
    except HTTPException as exc:
        return False, 4001, str(exc.detail)[:120]
    if Role.read not in principal.roles:
        return False, 4003, f"API key {principal.name!r} lacks the 'read' role"
    return True, 1000, principal.name


def _parse_subscribe(message: dict[str, Any], current: int) -> tuple[list[str], dict[str, int], str | None]:
    names = message.get("channels")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("channels must be a list of channel names")
    bad = [n[:80] for n in names if not CHANNEL.match(n)]
    if bad:
        raise ValueError(f"unknown channel(s): {bad}")
    if current + len(names) > MAX_SUBSCRIPTIONS:
        raise ValueError(f"at most {MAX_SUBSCRIPTIONS} channels per connection")
    since = message.get("since") or {}
    if not isinstance(since, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in since.values()):
        raise ValueError("since must map channel names to sequence numbers")
    epoch = message.get("epoch")
    return names, since, epoch if isinstance(epoch, str) else None


@router.websocket("/ws")
async def push(websocket: WebSocket) -> None:
    hub: PushHub = websocket.app.state.hub
    section = hub.settings.gateway
    await websocket.accept()
    ok, code, who = await _authenticate(websocket, section.auth_timeout_s)
    if not ok:
        await websocket.close(code, who)
        return
    await websocket.send_text(dumps({"type": "welcome", "epoch": hub.epoch, "heartbeat_s": section.heartbeat_s}))
    client = Client(websocket, section.push_queue, section.heartbeat_s, transport_of(websocket))
    hub.clients.add(client)
    pump = asyncio.create_task(client.pump())

    async def subscribe(message: dict[str, Any]) -> None:
        await hub.subscribe(client, *_parse_subscribe(message, len(client.channels)))

    handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
        "subscribe": subscribe,
        "unsubscribe": lambda m: hub.unsubscribe(client, [n for n in m.get("channels") or [] if isinstance(n, str)]),
        "ping": lambda m: client.offer("_pong", dumps({"type": "pong", "time_us": time.time_ns() // 1000}), force=True),
    }
    try:
        while True:
            receive = asyncio.create_task(websocket.receive_text())
            done, _ = await asyncio.wait({receive, pump}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:  # the socket broke while sending
                receive.cancel()
                pump.result()
                return
            try:
                message = orjson.loads(receive.result())
                if not isinstance(message, dict) or message.get("op") not in handlers:
                    raise ValueError(f"op must be one of {sorted(handlers)}")
                done_or_awaitable = handlers[message["op"]](message)
                if asyncio.iscoroutine(done_or_awaitable):
                    await done_or_awaitable
            except (orjson.JSONDecodeError, ValueError) as exc:
                client.offer("_error", _ops_error(str(exc)), force=True)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.unsubscribe(client, list(client.channels))
        hub.clients.discard(client)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
