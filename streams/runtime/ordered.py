"""Repartition topics whose readers process them in position order (:mod:`processors.ordering`), on Kafka.

The writing stage (the first stage of a pipeline: it reads topics from outside) processes each source
partition on its own, in log order, with no merge before it. Every record it writes to a repartition
topic carries its position in the header ``mercado-position`` (JSON ``[W, partition, topic, offset, n]``,
the topic being the source's physical name), and from time to time — at every commit for the sources
that moved, and as soon as a source is caught up — it writes a *progress marker* to every partition of
the repartition topic: a record without key or value whose header ``mercado-progress`` is JSON
``[topic, partition, W, next offset, caught up]``. Markers are in the log, in the same transactions as
the records they follow, so whoever reads a partition of the repartition topic knows, from the log
alone, up to which position every source has written.

The reading stage (:class:`LiveOrderedMerge`) holds the records of its partitions and releases them in
position order; what it holds and what it knows of every stream is state (the stage's changelog),
written in the batch's transaction like the aligner's held messages.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from processors.ordering import OrderedMerge, Position, Stream, progress_bound
from streams.kafka.headers import BOUND_HEADER, PROGRESS_HEADER

POSITION_HEADER = "mercado-position"
WRITER_HEADER = "mercado-writer"  # the writing task when it is not the position's source (a later stage)
STATE_PREFIX = "\x00"  # state-table keys that are not processor keys start with it
_STREAM = "\x00stream:"
_HELD = "\x00ordered:"
_SOURCE = "\x00source:"


def is_internal_key(key: str) -> bool:
    return key.startswith(STATE_PREFIX)


def position_header(pos: Position) -> tuple[str, bytes]:
    return POSITION_HEADER, orjson.dumps(pos)


def progress_header(topic: str, partition: int, watermark: int | None, next_offset: int,
                    caught_up: bool, strict: bool = False) -> tuple[str, bytes]:
    """``strict``: the source carries its producer's watermark markers; its readers never pass it on a timer."""
    return PROGRESS_HEADER, orjson.dumps([topic, partition, watermark, next_offset, caught_up, strict])


def writer_header(topic: str, partition: int) -> tuple[str, bytes]:
    return WRITER_HEADER, orjson.dumps([topic, partition])


def bound_header(topic: str, partition: int, bound: Position, caught_up: bool,
                 at: CaughtAt | None = None) -> tuple[str, bytes]:
    """The progress marker of a task of a later stage (topic, partition: its input partition): every
    record it still writes is at least ``bound``; ``caught_up`` with where the first stage's sources
    ended when it found them all caught up (``at``: a reader checks that they still end there)."""
    return BOUND_HEADER, orjson.dumps([topic, partition, bound, caught_up, at])


def _header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def _tuple(value: Any) -> Any:
    """A position from JSON (nested lists: a later stage's positions extend its input's)."""
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def read_position(headers: Iterable[tuple[str, bytes]] | None) -> Position | None:
    raw = _header(headers, POSITION_HEADER)
    return None if raw is None else _tuple(orjson.loads(raw))


def read_progress(headers: Iterable[tuple[str, bytes]] | None) -> tuple[str, int, int | None, int, bool, bool] | None:
    """(topic, partition, W, next offset, caught up, strict) of a progress marker (strict False in markers
    written before it existed)."""
    raw = _header(headers, PROGRESS_HEADER)
    if raw is None:
        return None
    topic, partition, watermark, next_offset, caught_up, *rest = orjson.loads(raw)
    return topic, partition, watermark, next_offset, caught_up, bool(rest and rest[0])


# ---------------------------------------------------------------------- the writing stage's state
def source_state_key(topic: str, partition: int) -> bytes:
    return f"{_SOURCE}{topic}:{partition}".encode()


def source_state(watermark: int, partition: int, strict: bool = False, writers: dict[str, Any] | None = None) -> bytes:
    """``strict``: the source partition carried a watermark marker of a producer that keeps announcing;
    ``writers``: what another pipeline's tasks announced on it (``WriterWatermarks.snapshot``)."""
    if writers:
        return orjson.dumps({"w": watermark, "partition": partition, "strict": True, "writers": writers})
    if strict:
        return orjson.dumps({"w": watermark, "partition": partition, "strict": True})
    return orjson.dumps({"w": watermark, "partition": partition})


def _saved(table: MutableMapping[bytes, bytes], partitions: set[int]) -> Iterator[tuple[tuple[str, int], Any]]:
    """Each source partition's saved record in a writing stage's table, of the given partitions."""
    for key, value in list(table.items()):
        text = key.decode()
        if text.startswith(_SOURCE):
            topic, _, partition = text[len(_SOURCE):].rpartition(":")
            if int(partition) in partitions:
                yield (topic, int(partition)), orjson.loads(value)


def saved_writers(table: MutableMapping[bytes, bytes], partitions: set[int]) -> dict[tuple[str, int], dict[str, Any]]:
    """What other pipelines' tasks announced on each source partition saved in a writing stage's table."""
    return {source: data["writers"] for source, data in _saved(table, partitions) if data.get("writers")}


def saved_sources(table: MutableMapping[bytes, bytes],
                  partitions: set[int]) -> dict[tuple[str, int], tuple[int, bool]]:
    """(watermark, strict) of each source partition saved in a writing stage's table, of the given partitions."""
    return {source: (data["w"], bool(data.get("strict"))) for source, data in _saved(table, partitions)}


# ---------------------------------------------------------------------- the reading stage
@dataclass(frozen=True, slots=True)
class Ordered:
    """A record of the repartition topic, held until its position comes."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int

    def dumps(self) -> bytes:
        return orjson.dumps({
            "ordered": [self.offset, None if self.key is None else base64.b64encode(self.key).decode(),
                        None if self.value is None else base64.b64encode(self.value).decode(), self.timestamp_ms],
            "partition": self.partition,
        })

    @classmethod
    def loads(cls, raw: bytes) -> Ordered:
        data = orjson.loads(raw)
        offset, key, value, ts = data["ordered"]
        return cls(data["partition"], offset, None if key is None else base64.b64decode(key),
                   None if value is None else base64.b64decode(value), ts)




# Where a caught-up stream's sources ended: (physical topic, partition, next offset) of each first-stage
# source partition it depends on (one for a progress marker; every source of a later stage's task for its
# bound). The stream is caught up in the log only while each of them still ends there.
CaughtAt = tuple[tuple[str, int, int], ...]
AtEnd = Callable[[str, int, int], bool]


def _at(value: Any) -> CaughtAt:
    return tuple((t, p, o) for t, p, o in value)


class LiveOrderedMerge:
    """The reading stage's :class:`~processors.ordering.OrderedMerge` over its assigned partitions of the
    repartition topic, with its state in the stage's table. ``sources`` are the writing stage's input
    partitions (physical topic, partition): every partition of every input topic.

    The live edge (docs/architecture.md, "Scale-out"): :meth:`release` releases what the log orders —
    every stream passed — at once. A stream whose writer announced "caught up" is passed only when (1)
    its writer's input partition still ends where the writer stopped (``at_end``: looked up by the
    reader, so a writer that is slow, restoring, or dead with data waiting is never passed) and (2) the
    held records have waited ``idle_s`` for it (Kafka Streams' ``max.task.idle.ms``: input that reaches
    the writer's source within that time still comes first). ``idle_s`` < 0: never passed (the
    replay's order whatever the timing; what is past an idle source waits for its next record)."""

    def __init__(self, table: MutableMapping[bytes, bytes], sources: Iterable[tuple[str, int]],
                 idle_s: float = 0.5) -> None:
        self.table = table
        self.sources = sorted(set(sources))
        self.idle_s = idle_s
        self.caught_at: dict[Stream, CaughtAt] = {}
        self.strict: set[Stream] = set()  # streams whose source announces watermarks: never passed on a timer
        self.blocked_since: float | None = None  # when held records began waiting for a caught-up stream
        self.passed = 0  # releases that passed a caught-up stream
        self.waited_s = 0.0  # how long held records waited before those
        self.merge = OrderedMerge()
        self.positions: dict[tuple[int, int], tuple[Stream, Position]] = {}  # (partition, offset) of held ones
        self.added: dict[tuple[int, int], Ordered] = {}  # arrived since the last save, still held
        self.released: list[tuple[int, int]] = []  # held, saved, released since the last save
        self.unordered = 0  # records without a position (not written by an ordering stage)

    def assign(self, partitions: set[int]) -> None:
        """Opens every stream of these partitions and restores what the table holds of them."""
        self.merge.open((q, t, p) for q in sorted(partitions) for t, p in self.sources)
        held = []
        for key, value in list(self.table.items()):
            text = key.decode()
            if text.startswith(_STREAM):
                data = orjson.loads(value)
                if data["partition"] in partitions:
                    stream = tuple(data["stream"])
                    self.merge.set_state(stream, _tuple(data["low"]), data["caught_up"])
                    if data.get("at") is not None:
                        self.caught_at[stream] = _at(data["at"])
                    if data.get("strict"):
                        self.strict.add(stream)
            elif text.startswith(_HELD):
                data = orjson.loads(value)
                if data["partition"] in partitions:
                    held.append((_tuple(data["position"]), tuple(data["stream"]), Ordered.loads(value)))
        for pos, stream, item in sorted(held):  # each stream's records in position order
            queue = self.merge.queues[stream]
            queue.append((pos, item))
            self.merge.held += 1
            self.positions[(item.partition, item.offset)] = (stream, pos)
        self.merge.take_changed()

    def forget(self, partitions: set[int]) -> None:
        self.merge.close(lambda s: s[0] not in partitions)
        for qo in [qo for qo in self.positions if qo[0] in partitions]:
            del self.positions[qo]
        for stream in [st for st in self.caught_at if st[0] in partitions]:
            del self.caught_at[stream]
        self.strict = {st for st in self.strict if st[0] not in partitions}
        self.added = {qo: item for qo, item in self.added.items() if qo[0] not in partitions}
        self.released = [qo for qo in self.released if qo[0] not in partitions]

    def arrived(self, partition: int, offset: int, key: bytes | None, value: bytes | None, timestamp_ms: int,
                headers: Any) -> list[Ordered] | None:
        """One record of the repartition topic: a marker or a record is taken in (returns []); a record
        without a position is returned as it is, to be processed at once ([record]); None: a duplicate."""
        raw = _header(headers, BOUND_HEADER)
        if raw is not None:
            topic, writer_partition, bound, caught_up, *rest = orjson.loads(raw)
            stream = (partition, topic, writer_partition)
            self.merge.progress(stream, _tuple(bound), caught_up)
            self._caught(stream, _at(rest[0]) if caught_up and rest and rest[0] is not None else None)
            return []
        progress = read_progress(headers)
        if progress is not None:
            topic, source_partition, watermark, next_offset, caught_up, strict = progress
            stream = (partition, topic, source_partition)
            self.merge.progress(stream, progress_bound(watermark, topic, source_partition, next_offset), caught_up)
            if strict and stream not in self.strict:
                self.strict.add(stream)
                self.merge.changed.add(stream)
            self._caught(stream, ((topic, source_partition, next_offset),) if caught_up else None)
            return []
        item = Ordered(partition, offset, key, value, timestamp_ms)
        pos = read_position(headers)
        if pos is None:
            self.unordered += 1
            return [item]
        writer = _header(headers, WRITER_HEADER)
        if writer is None:
            stream = (partition, pos[2], pos[1])
        else:
            writer_topic, writer_partition = orjson.loads(writer)
            stream = (partition, writer_topic, writer_partition)
        if not self.merge.add(stream, pos, item):
            return None
        self.positions[(partition, offset)] = (stream, pos)
        self.added[(partition, offset)] = item
        return []

    def _caught(self, stream: Stream, at: CaughtAt | None) -> None:
        if at is None:
            self.caught_at.pop(stream, None)
        else:
            self.caught_at[stream] = at

    def passable(self, at_end: AtEnd) -> Callable[[Stream], bool]:
        """Whether a caught-up stream may be passed now: every source partition it was caught up at still
        ends there (``at_end(topic, partition, next offset)``, the reader's own look-up)."""

        def passable(stream: Stream) -> bool:
            if stream in self.strict:  # its source announces watermarks: only they (in the log) release it
                return False
            at = self.caught_at.get(stream)
            return at is not None and all(at_end(*source) for source in at)

        return passable

    def frontier(self, destination: int, at_end: AtEnd) -> tuple[Position, bool, CaughtAt | None]:
        """:meth:`~processors.ordering.OrderedMerge.frontier`, caught up only with every stream passable;
        then also where their sources ended (for the next stage to check)."""
        bound, caught = self.merge.frontier(destination, self.passable(at_end) if self.idle_s >= 0 else
                                            lambda s: False)
        if not caught:
            return bound, False, None
        at = sorted({source for s, at_s in self.caught_at.items() if s[0] == destination for source in at_s})
        return bound, True, tuple(at)

    def release(self, now: float = 0.0, at_end: AtEnd | None = None) -> list[tuple[Position, Ordered]]:
        """The records that may go now, in position order, each with its position: what every stream has
        passed; then, once held records have waited ``idle_s`` (``now``: the caller's monotonic clock) for
        caught-up streams, also what only streams verified at their end (``at_end``) hold back. Without
        ``at_end``, caught-up streams are passed at once (the whole input in the log: tests, tools)."""
        if at_end is None:
            return self._items(self.merge.release())
        released = self.merge.release(lambda s: False)
        if self.merge.held and self.idle_s >= 0:
            if self.blocked_since is None:
                self.blocked_since = now
            if now - self.blocked_since >= self.idle_s:
                passed = self.merge.release(self.passable(at_end))
                if passed:
                    self.passed += 1
                    self.waited_s += now - self.blocked_since
                    self.blocked_since = None
                released += passed
        if not self.merge.held:
            self.blocked_since = None
        return self._items(released)

    def _items(self, released: list[tuple[Stream, Any]]) -> list[tuple[Position, Ordered]]:
        out = []
        for _, item in released:
            qo = (item.partition, item.offset)
            _, pos = self.positions.pop(qo)
            if self.added.pop(qo, None) is None:
                self.released.append(qo)  # it was saved: delete it
            out.append((pos, item))
        return out

    def save(self) -> list[tuple[bytes, bytes | None, int]]:
        """The table changes since the last save (streams' state, records held and released), made in the
        table and returned for the changelog."""
        writes: list[tuple[bytes, bytes | None, int]] = []
        for q, offset in self.released:
            key = f"{_HELD}{q}:{offset}".encode()
            self.table.pop(key, None)
            writes.append((key, None, q))
        for (q, offset), item in self.added.items():
            stream, pos = self.positions[(q, offset)]
            key = f"{_HELD}{q}:{offset}".encode()
            value = orjson.dumps({**orjson.loads(item.dumps()), "position": pos, "stream": stream})
            self.table[key] = value
            writes.append((key, value, q))
        for stream in sorted(self.merge.take_changed()):
            if stream not in self.merge.low:
                continue
            q, topic, partition = stream
            key = f"{_STREAM}{q}:{topic}:{partition}".encode()
            value = orjson.dumps({"stream": stream, "low": self.merge.low[stream],
                                  "caught_up": stream in self.merge.caught_up, "partition": q,
                                  "at": self.caught_at.get(stream), "strict": stream in self.strict})
            self.table[key] = value
            writes.append((key, value, q))
        self.added = {}
        self.released = []
        return writes
