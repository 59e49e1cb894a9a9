"""The one order a keyed stage sees its repartitioned inputs in, whoever wrote them and whenever.

A repartition topic (``risk.inputs.v1``, ``retail.by-block.v1``) is written by the tasks of the stage
before it, one per source partition, on whatever workers own them: the interleaving of sources in one
of its partitions depends on the assignment and on timing. So the order of the log is not the order
the keyed stage processes. Each record carries its **position**

    (W, source partition, source topic, source offset, n)

where W is the source partition's *watermark* at that message — the highest merge timestamp
(``streams/runtime/align.py`` ``merge_key``: the Kafka timestamp = event time, -1 for a message the
runtime refuses) of the source partition up to and including it — and n numbers the records one
source message wrote. Along a source partition positions only grow, so the positions are a total
order of every record of the repartition topic that does not depend on who wrote them. The keyed
stage processes its records in that order (:class:`OrderedMerge`).

It is the replay's order: the replay (``streams/engines/replay.py``) merges all input partitions by
the head with the smallest (merge timestamp, partition, topic) while every partition has a head, and
that merge, even over partitions whose timestamps go back (a late tick), releases messages exactly in
position order (a late message sits right after its predecessor; ``tests/unit/test_ordering.py``
checks it on random logs). The in-process runner (``processors/stages.py``) is fed in that order.

:class:`OrderedMerge` releases a record only when no stream — a (destination partition, source)
pair — can still deliver a smaller one: every other stream either holds a record (streams are in
position order) or has announced, by a progress marker the writing task put in the log, that its
future records are at least some position, or that its source is caught up. That last one is the only
judgement that is not in the log (the source may receive more, below what was released meanwhile): the
caller decides when a caught-up stream may be passed (``release(passable)``; the live worker's rule is
in ``streams/runtime/ordered.py``, ``LiveOrderedMerge``).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

Position = tuple  # (watermark ms, source partition, source topic, source offset, n), or a bound
Stream = tuple[int, str, int]  # (destination partition, source topic, source partition)
BEFORE_ALL: Position = ()  # below every position: nothing known of the stream
AFTER_ALL: Position = (math.inf,)


def position(watermark: int, topic: str, partition: int, offset: int, n: int = 0) -> Position:
    return (watermark, partition, topic, offset, n)


def next_of(pos: Position) -> Position:
    """The smallest position after ``pos`` (its stream's later records are at least this): the last number
    counts the records of one message (or, extended by a later stage, of one released record)."""
    return (*pos[:-1], pos[-1] + 1)


def progress_bound(watermark: int | None, topic: str, partition: int, next_offset: int) -> Position:
    """What a source that processed every message before ``next_offset`` (watermark ``watermark``, None:
    no message yet) can still write: positions at least this."""
    return BEFORE_ALL if watermark is None else (watermark, partition, topic, next_offset, 0)


class SourceWatermarks:
    """The watermark of each source partition (the highest merge timestamp so far), for the writing stage.
    A producer's watermark marker "nothing more at or before T" is a message of merge timestamp T + 1 that
    writes nothing (``advance(..., T + 1)``; the replay's merge keys it so alike). ``strict`` holds the
    source partitions that ever carried one from a producer that keeps announcing (``T;strict``): their
    readers never pass them on a timer."""

    def __init__(self) -> None:
        self.of: dict[tuple[str, int], int] = {}
        self.strict: set[tuple[str, int]] = set()

    def advance(self, topic: str, partition: int, merge_ts: int) -> int:
        tp = (topic, partition)
        w = self.of.get(tp)
        if w is None or merge_ts > w:
            w = self.of[tp] = merge_ts
        return w


IDLE_WRITER = -(2**62)
"""What a writing task announces while it has seen nothing at all and every stream it merges is one the
live release may pass (:meth:`OrderedMerge.watermark`): it bounds nothing, so the readers' min leaves it out.
Without it, a task that never gets input (a key-less input partition) would never announce, and its
readers would hold every partition it writes for good. A record it writes later below what the readers
released meanwhile is a late record, ordered so live and in the replay alike (the min is taken from the log)."""


class WriterWatermarks:
    """What the writing tasks of another pipeline announced on each partition of a topic it writes and this
    stage reads (docs/architecture.md, "Watermarks in the log"). Every task of the writing stage (one per
    input partition of it: ``writers``) writes, at its commits, a marker "I write nothing more at or before
    T here" to every partition of the topic; several tasks write each partition, so the partition's
    watermark is the min of every writer's latest T, known once each has announced once. It is computed
    from the partition's log alone (each marker in log order), so the replay's merge and the live first
    stage get the same one; the live stage keeps it as state (:meth:`snapshot`, :meth:`restore`)."""

    def __init__(self) -> None:
        # (topic, partition) -> writer topic -> (writers, {writer partition: latest T})
        self.of: dict[tuple[str, int], dict[str, tuple[int, dict[int, int]]]] = {}

    def combine(self, topic: str, partition: int, writer_topic: str, writer_partition: int, writers: int,
                t_ms: int) -> int | None:
        """Takes one marker in; the partition's watermark (the min over every writer), None while a writer
        has not announced yet."""
        by_topic = self.of.setdefault((topic, partition), {})
        count, latest = by_topic.get(writer_topic, (writers, {}))
        if writers != count:  # the writing stage has another task count now: its new tasks start over
            latest = {}
        if 0 <= writer_partition < writers and t_ms > latest.get(writer_partition, t_ms - 1):
            latest[writer_partition] = t_ms
        by_topic[writer_topic] = (writers, latest)
        if any(len(found) < n for n, found in by_topic.values()):
            return None
        return min((t for _, found in by_topic.values() for t in found.values() if t != IDLE_WRITER), default=None)

    def snapshot(self, topic: str, partition: int) -> dict[str, Any] | None:
        by_topic = self.of.get((topic, partition))
        if not by_topic:
            return None
        return {w: [n, {str(p): t for p, t in sorted(found.items())}] for w, (n, found) in sorted(by_topic.items())}

    def restore(self, topic: str, partition: int, saved: dict[str, Any] | None) -> None:
        if saved:
            self.of[(topic, partition)] = {w: (n, {int(p): t for p, t in found.items()})
                                           for w, (n, found) in saved.items()}

    def forget(self, keep: Callable[[tuple[str, int]], bool]) -> None:
        self.of = {tp: v for tp, v in self.of.items() if keep(tp)}


class OrderedMerge:
    """Records of several streams, each in position order, released in position order.

    ``add`` a record of a stream; ``progress`` what a stream's writer announced (every later record is
    at least ``bound``; ``caught_up``: none will come until one is added); ``release`` the records that
    no stream can still precede. A record below what its stream already delivered or announced is a
    duplicate (a re-delivery) and is dropped."""

    def __init__(self) -> None:
        self.queues: dict[Stream, deque[tuple[Position, Any]]] = {}
        self.low: dict[Stream, Position] = {}
        self.caught_up: set[Stream] = set()
        self.changed: set[Stream] = set()  # streams whose low or caught-up flag changed since take_changed
        self.held = 0
        self.duplicates = 0

    def open(self, streams: Iterable[Stream]) -> None:
        for s in streams:
            if s not in self.queues:
                self.queues[s] = deque()
                self.low.setdefault(s, BEFORE_ALL)

    def close(self, keep: Callable[[Stream], bool]) -> None:
        """Drops the streams (and what they hold) for which ``keep`` is false."""
        for s in [s for s in self.queues if not keep(s)]:
            self.held -= len(self.queues.pop(s))
            self.low.pop(s, None)
            self.caught_up.discard(s)
            self.changed.discard(s)

    def set_state(self, stream: Stream, low: Position, caught_up: bool) -> None:
        self.open([stream])
        self.low[stream] = low
        if caught_up:
            self.caught_up.add(stream)
        else:
            self.caught_up.discard(stream)

    def add(self, stream: Stream, pos: Position, item: Any) -> bool:
        queue = self.queues.get(stream)
        if queue is None:
            self.open([stream])
            queue = self.queues[stream]
        if pos < self.low[stream]:
            self.duplicates += 1
            return False
        queue.append((pos, item))
        self.low[stream] = next_of(pos)
        self.caught_up.discard(stream)
        self.changed.add(stream)
        self.held += 1
        return True

    def progress(self, stream: Stream, bound: Position, caught_up: bool) -> None:
        self.open([stream])
        if bound > self.low[stream]:
            self.low[stream] = bound
        if caught_up:
            self.caught_up.add(stream)
        else:
            self.caught_up.discard(stream)
        self.changed.add(stream)

    def take_changed(self) -> set[Stream]:
        changed, self.changed = self.changed, set()
        return changed

    def frontier(self, destination: int, passable: Callable[[Stream], bool] | None = None) -> tuple[Position, bool]:
        """What the streams of one destination partition can still release: positions at least the bound,
        and whether every one of them is empty and caught up (and, with ``passable``, passable: see
        :meth:`release`). (A stage that reads a repartition topic and writes another announces this, so
        that the next stage can merge what it writes.)"""
        bound: Position | None = None
        caught = True
        for s, queue in self.queues.items():
            if s[0] != destination:
                continue
            here = queue[0][0] if queue else self.low[s]
            if queue or s not in self.caught_up or (passable is not None and not passable(s)):
                caught = False
            if bound is None or here < bound:
                bound = here
        return (BEFORE_ALL if bound is None else bound), caught

    def watermark(self, destination: int, passable: Callable[[Stream], bool] | None = None) -> int | None:
        """The event time (ms) at or before which the task of one destination partition releases nothing
        more, as far as it can tell (its marker for the readers of the topics it writes, when another
        pipeline reads them): W of the smallest held head or bound of a stream that can still deliver, less
        1 — an empty caught-up stream that ``passable`` lets pass is left out (like the live release; a record
        its source gets later below that comes late, and its readers order it so, live and in the replay
        alike); when every stream is such, the highest W known (not less 1), or ``IDLE_WRITER`` when none is
        known. None while a stream's bound is unknown."""
        lowest: Position | None = None
        highest: int | None = None
        for s, queue in self.queues.items():
            if s[0] != destination:
                continue
            here = queue[0][0] if queue else self.low[s]
            if here and (highest is None or here[0] > highest):
                highest = here[0]
            if not queue and s in self.caught_up and (passable is None or passable(s)):
                continue
            if not here:
                return None
            if lowest is None or here < lowest:
                lowest = here
        if lowest is not None:
            return lowest[0] - 1 if isinstance(lowest[0], int) else None
        if highest is None:  # every stream empty, passable and with nothing known: it bounds nothing
            return IDLE_WRITER if any(s[0] == destination for s in self.queues) else None
        # Every stream passed: the task has released all it knows of, up to and with W = highest (not less 1:
        # the readers would otherwise hold its last record until its input moved on, i.e. for good when idle;
        # a record of that very ms its passed source gets later is late, as any record after a pass is).
        return highest if isinstance(highest, int) else None

    def release(self, passable: Callable[[Stream], bool] | None = None) -> list[tuple[Stream, Any]]:
        """The held records that no stream can still precede, in position order. An empty stream blocks at
        its ``low``; a caught-up one too, unless ``passable`` (None: every caught-up stream) says that it
        may be passed. Passing a caught-up stream is the one decision that is not in the log: a record its
        source receives later, below what was released meanwhile, comes after it (the replay puts it
        before). ``passable=lambda s: False`` releases only what the log already orders."""
        heads = [(q[0][0], s) for s, q in self.queues.items() if q]
        if not heads:
            return []
        heapq.heapify(heads)
        caught_up, low = self.caught_up, self.low

        def blocks(s: Stream) -> bool:
            return s not in caught_up or (passable is not None and not passable(s))

        blocking = min((low[s] for s, q in self.queues.items() if not q and blocks(s)), default=AFTER_ALL)
        out: list[tuple[Stream, Any]] = []
        while heads and heads[0][0] < blocking:
            _, s = heapq.heappop(heads)
            queue = self.queues[s]
            out.append((s, queue.popleft()[1]))
            if queue:
                heapq.heappush(heads, (queue[0][0], s))
            elif low[s] < blocking and blocks(s):
                blocking = low[s]
        self.held -= len(out)
        return out
