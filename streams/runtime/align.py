"""Event-time alignment of a live stage's input partitions (the live counterpart of the replay's merge).

A stage that reads several topics (the risk pipeline's rekey stage: orders, health probes, ticks), or
several partitions whose outputs are repartitioned for a later stage (the retail listings and matching
stages), gets its messages in arrival order: a consumer catching up fetches whole chunks of one
partition before the next, so an hour of orders can arrive before the ticks they were priced against,
and a repartition topic would get another interleaving on every run. The
replay merges its inputs by (Kafka timestamp = event time, partition, topic); :class:`EventTimeAligner`
gives the live worker the same order. It holds each partition's messages and releases the oldest
head only when no assigned partition can still deliver something older: every other partition
either holds a message already (its next one cannot be older: a partition is in event-time order),
or cannot deliver anything now: :func:`pending_check` decides that from the partition's position,
its high watermark and how long it has been idle (like Kafka Streams: wait while the lag is known
to be positive; wait at most ``idle_s`` of wall-clock time when it is unknown or when what is left
is one offset — the control record that ends a transaction).

A message the runtime will refuse for its event time (:func:`merge_key`: before the floor, or ahead of
its producer's stamp) is ordered first, not by its timestamp: a tick dated 2999 at a partition's head
would otherwise hold back every later message of that partition until the others ran dry, and its
partition's inputs would reach the stage in another order than without it. The key is judged from the
message alone, so the replay's merge (streams/engines/replay.py) and the live one order alike.

Caught-up and idle partitions are the only wall-clock inputs, and they matter only at the live edge:
when the inputs are already in the log (catch-up, a restart, a backtest on the live worker) the
release order is exactly the replay's. Faust and Kafka stay outside: the worker tells the aligner
what arrived and whether a partition is caught up.
"""

from __future__ import annotations

import base64
import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from processors.admission import AdmissionConfig, bounds_us
from streams.kafka.headers import produced_at, watermark_of

HELD_PREFIX = "\x00held:"  # state-table keys of held messages (kept in the changelog until released)


@dataclass(frozen=True, slots=True)
class Held:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def order(self) -> tuple[int, int, str, int]:
        """The replay's merge order: Kafka timestamp, then partition, then topic (then offset)."""
        return (self.timestamp_ms, self.partition, self.topic, self.offset)

    @property
    def state_key(self) -> str:
        return f"{HELD_PREFIX}{self.topic}:{self.partition}:{self.offset}"

    def dumps(self) -> bytes:
        def b64(raw: bytes | None) -> str | None:
            return None if raw is None else base64.b64encode(raw).decode()

        return orjson.dumps({
            "held": [self.topic, self.partition, self.offset, self.timestamp_ms, b64(self.key), b64(self.value),
                     [[name, b64(value)] for name, value in self.headers]],
            "partition": self.partition,
        })

    @classmethod
    def loads(cls, raw: bytes) -> Held:
        topic, partition, offset, ts, key, value, headers = orjson.loads(raw)["held"]

        def unb64(text: str | None) -> bytes | None:
            return None if text is None else base64.b64decode(text)

        return cls(topic, partition, offset, ts, unb64(key), unb64(value),
                   tuple((name, unb64(v) or b"") for name, v in headers))


def merge_keyer(admission: AdmissionConfig | None) -> Callable[[int, Iterable[tuple[str, bytes]] | None], int]:
    """``key(timestamp_ms, headers)``: the timestamp a merge orders a message by — its own, or -1 (first)
    when the runtime will refuse it by the floor or by its producer's stamp (``mercado-produced-us``; the
    same bounds as :func:`processors.admission.time_violation`). An unstamped message is judged by its
    partition's clock, which the merge does not keep: it keeps its timestamp. A producer's watermark
    marker (``streams/kafka/headers.py``: nothing more at or before T) is keyed T + 1: every merge (the
    replay's, the aligner's, the first stage's watermark) takes it as a message of event time T + 1 that
    writes nothing. Runs per message."""
    if admission is None:
        def plain(timestamp_ms: int, headers: Iterable[tuple[str, bytes]] | None) -> int:
            if headers:
                marked = watermark_of(headers)  # type: ignore[arg-type]
                if marked is not None:
                    return marked + 1
            return timestamp_ms

        return plain
    floor, ahead, _ = bounds_us(admission)

    def key(timestamp_ms: int, headers: Iterable[tuple[str, bytes]] | None) -> int:
        if headers:
            marked = watermark_of(headers)  # type: ignore[arg-type]
            if marked is not None:  # a producer's watermark marker: T + 1, whatever the bounds
                return marked + 1
        t = timestamp_ms * 1000
        if t < floor:
            return -1
        if headers:
            produced = produced_at(headers)
            if produced is not None and t > produced + ahead:
                return -1
        return timestamp_ms

    return key


def merge_key(timestamp_ms: int, headers: Iterable[tuple[str, bytes]] | None,
              admission: AdmissionConfig | None) -> int:
    """:func:`merge_keyer`'s key of one message."""
    return merge_keyer(admission)(timestamp_ms, headers)


def is_held_key(key: str) -> bool:
    return key.startswith(HELD_PREFIX)


class EventTimeAligner:
    def __init__(self, clock: Callable[[], float] = time.monotonic, admission: AdmissionConfig | None = None):
        self.clock = clock
        self.admission = admission
        self._key = merge_keyer(admission)
        self._queues: dict[tuple[str, int], deque[Held]] = {}
        self._last_arrival: dict[tuple[str, int], float] = {}
        self.held_count = 0

    def assign(self, tps: Iterable[tuple[str, int]]) -> None:
        """The input partitions that may still deliver (the worker's current assignment)."""
        now = self.clock()
        current = set(tps)
        for tp in current:
            if tp not in self._queues:
                self._queues[tp] = deque()
                self._last_arrival[tp] = now
        for tp in set(self._queues) - current:
            self.held_count -= len(self._queues.pop(tp))  # revoked: its new owner re-reads them
            self._last_arrival.pop(tp, None)

    def add(self, message: Held) -> None:
        tp = (message.topic, message.partition)
        queue = self._queues.get(tp)
        if queue is None:
            queue = self._queues[tp] = deque()
        queue.append(message)
        self._last_arrival[tp] = self.clock()
        self.held_count += 1

    def _order(self, m: Held) -> tuple[int, int, str, int]:
        """:attr:`Held.order`, with a message the runtime will refuse first (:func:`merge_key`)."""
        if self.admission is None:
            return m.order
        return (self._key(m.timestamp_ms, m.headers), m.partition, m.topic, m.offset)

    def release(self, pending: Callable[[str, int, float], bool]) -> list[Held]:
        """The held messages that can go now, in the replay's order. ``pending(topic, partition,
        idle_s)`` says whether a partition with nothing held may still deliver an older message."""
        heads = [(self._order(q[0]), tp) for tp, q in self._queues.items() if q]
        if not heads:
            return []
        heapq.heapify(heads)
        now = self.clock()
        # Partitions with nothing held: each may still deliver something older, unless caught up or idle.
        waiting = [tp for tp, q in self._queues.items() if not q]
        blocked = any(pending(*tp, now - self._last_arrival[tp]) for tp in waiting)
        out: list[Held] = []
        while heads and not blocked:
            _, tp = heapq.heappop(heads)
            queue = self._queues[tp]
            out.append(queue.popleft())
            if queue:
                heapq.heappush(heads, (self._order(queue[0]), tp))
            else:  # this partition's next message could be older than the other heads
                blocked = pending(*tp, now - self._last_arrival[tp])
        self.held_count -= len(out)
        return out


def restore_held(items: Iterable[tuple[str, bytes]]) -> list[Held]:
    """Held messages saved in a state table (``(key, value)`` pairs), in log order per partition."""
    held = [Held.loads(value) for key, value in items if is_held_key(key)]
    return sorted(held, key=lambda m: (m.topic, m.partition, m.offset))


def pending_check(
    positions: dict[tuple[str, int], int],
    highwater: Callable[[str, int], int | None],
    idle_s: float = 2.0,
    stall_s: float = 60.0,
    unseen: Callable[[str, int], tuple[int, int] | None] | None = None,
) -> Callable[[str, int, float], bool]:
    """``pending(topic, partition, idle)``: may the partition still deliver something now?

    ``positions`` holds the next offset of every partition a message was seen from; ``unseen(t, p)``
    gives (first offset to read, end offset) of a partition nothing was seen from yet (the group's
    committed offset and the high watermark, looked up once). Known lag > 1: yes (its messages are on
    the way), for at most ``stall_s`` without a message; lag of one offset (a transaction marker) or
    unknown: for at most ``idle_s``; caught up: no."""
    looked_up: dict[tuple[str, int], tuple[int, int] | None] = {}

    def pending(topic: str, partition: int, idle: float) -> bool:
        position = positions.get((topic, partition))
        if position is None:
            # Before its first fetch a consumer's high watermark of a partition is not known (aiokafka
            # reports None or 0): only the looked-up offsets say whether something is coming.
            found = None
            if unseen is not None:
                tp = (topic, partition)
                if tp not in looked_up:
                    looked_up[tp] = unseen(topic, partition)
                found = looked_up[tp]
            if found is None:
                return idle < idle_s
            position, hw = found
        else:
            hw = highwater(topic, partition)
        if hw is None or position is None:
            return idle < idle_s
        lag = hw - position
        if lag <= 0:
            return False
        return idle < (idle_s if lag == 1 else stall_s)

    return pending
