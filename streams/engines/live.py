"""What both live engines share (``mercado worker``: faust in ``streams/engines/faust_engine.py``, the native
confluent-kafka loop in ``streams/engines/native.py``): the state changelog's name and records, the
event-time aligner's worker side, dead letters and per-batch metrics. Nothing here talks to faust.

A stage's state is a changelog topic (compacted, co-partitioned with the stage's input) of
``key -> JSON``: every processor key's snapshot (:meth:`PipelineDriver.saved_state`, which carries its
partition) and every message the aligner holds (``streams/runtime/align.py``). Both engines read and write the
same topic with the same records, so a pipeline can move from one engine to the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, NamedTuple

import orjson

from processors.topics import DEAD_LETTERS as DEAD_LETTER_TOPIC
from streams.config import Settings
from streams.kafka.clients import consumer_config
from streams.kafka.dead_letters import DeadLetter
from streams.kafka.headers import PROCESSING_HEADER
from streams.observability import metrics
from streams.runtime.align import EventTimeAligner, Held, pending_check, restore_held
from streams.runtime.driver import Output, Rejected
from streams.runtime.ordered import is_internal_key

StateWrite = tuple[bytes, bytes | None, int]  # (key, value or None to delete, changelog partition)


def group_id(settings: Settings, pipeline: str) -> str:
    """The consumer group (and faust app id) of a pipeline's workers."""
    return f"{settings.kafka.topic_prefix}mercado-{pipeline}"


COMMITTED_AT = "committed_at_ms="


def commit_metadata(now_ms: int) -> str:
    """The metadata a worker commits with its input offsets: when (wall clock: observability only, never an
    input to a processor). Kafka keeps no commit time, so this is how ``/system/health`` tells a worker's
    last commit."""
    return f"{COMMITTED_AT}{now_ms}"


def committed_at_ms(metadata: str | None) -> int | None:
    """The time :func:`commit_metadata` wrote, or None (another client's metadata, or none)."""
    if not metadata or not metadata.startswith(COMMITTED_AT):
        return None
    try:
        return int(metadata[len(COMMITTED_AT):])
    except ValueError:
        return None


def state_table_name(stage: str) -> str:
    return f"{stage}-state"


def changelog_topic(settings: Settings, pipeline: str, stage: str) -> str:
    """The physical changelog topic of a stage's state (faust's ``<app id>-<table>-changelog``)."""
    return f"{group_id(settings, pipeline)}-{state_table_name(stage)}-changelog"


def saved_keys(table: MutableMapping[bytes, bytes], partition: int) -> list[tuple[str, dict[str, Any]]]:
    """The processor keys of one input partition saved in a state table (``PipelineDriver``'s
    ``load_partition``); held messages, source watermarks and ordered streams (keys starting with NUL) are
    the engine's."""
    saved = ((k.decode(), v) for k, v in list(table.items()))
    return [(key, value) for key, value in ((k, orjson.loads(v)) for k, v in saved if not is_internal_key(k))
            if value.get("partition") == partition]


def state_writes(driver: Any, table: MutableMapping[bytes, bytes]) -> list[StateWrite]:
    """The snapshot of every key the batch changed, put in the table and returned to be written to the
    changelog in the batch's transaction."""
    writes = []
    for key, partition in driver.take_touched().items():
        raw_key, value = key.encode(), orjson.dumps(driver.saved_state(key, partition))
        table[raw_key] = value
        writes.append((raw_key, value, partition))
    return writes


def late_tick(out: Any) -> None:
    if out.emit.schema == "LateTick":
        metrics.LATE_TICKS.labels(out.emit.record["venue"], out.emit.record["symbol"]).inc()


class Produce(NamedTuple):
    """One record the engine produces in the batch's transaction."""

    topic: str  # physical
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None  # None: the broker's (dead letters)
    headers: list[tuple[str, bytes]] | None


class Router:
    """Turns one input's result (``PipelineDriver.process``) into the records to produce: each output to
    its physical topic, a refused message to the dead-letter topic with its reason and origin, and the
    metrics counted. Both live engines produce exactly what this returns, in this order."""

    def __init__(self, settings: Settings, spec: Any):
        self.outputs = {name: settings.topic(name) for name in spec.outputs}
        self.dead_letter_topic = settings.topic(DEAD_LETTER_TOPIC)
        self.events_out = {name: metrics.EVENTS_OUT.labels(settings.topic(name), spec.name) for name in spec.outputs}
        self.timed = frozenset(spec.timed_outputs)  # schemas stamped with the input's processing time

    def route(self, result: list[Output] | Rejected, key: bytes | None, value: bytes | None,
              headers: Any, processing_ns: int | None = None) -> list[Produce]:
        """``processing_ns``: the wall time the input took (measured by the engine when ``timed``)."""
        if isinstance(result, Rejected):
            metrics.DEAD_LETTERS.labels(result.topic, result.error.reason).inc()
            letter = DeadLetter.refused(result.topic, result.partition, result.offset, key, value, headers,
                                        result.error)
            dl_value, dl_key, dl_headers = letter.kafka_record()
            return [Produce(self.dead_letter_topic, dl_key, dl_value, None, dl_headers)]
        records = []
        outputs, events_out = self.outputs, self.events_out
        timed = self.timed
        for out in result:
            stamp = None
            if timed and processing_ns is not None and out.emit.schema in timed:
                stamp = [(PROCESSING_HEADER, str(processing_ns // 1000).encode())]
            records.append(Produce(outputs[out.topic], out.key.encode(), out.value, out.timestamp_ms, stamp))
            events_out[out.topic].inc()
            if out.emit.schema == "LateTick":
                late_tick(out)
        return records


class LiveAligner:
    """The live side of :class:`~streams.runtime.align.EventTimeAligner` for a stage that reads several topics
    or feeds a later stage: feeds it each batch, releases what may go, and keeps the held messages in
    the stage's state table (written and deleted in the batch's transaction), so a restarted worker
    holds exactly what the killed one held — their offsets are committed, the messages live in the
    changelog. ``assignment()`` gives the worker's current input partitions of this stage. With
    ``restore_lazily`` every held message of the table is held again on the first :meth:`arrived` (faust
    restores the table before the agent runs); else the worker calls :meth:`restore` per assignment."""

    def __init__(self, settings: Settings, group: str, table: MutableMapping[bytes, bytes],
                 assignment: Callable[[], Iterable[tuple[str, int]]], *, restore_lazily: bool = True) -> None:
        self.settings, self.group, self.table, self.assignment = settings, group, table, assignment
        self.aligner = EventTimeAligner(admission=settings.admission)
        self.positions: dict[tuple[str, int], int] = {}
        self.saved: set[str] = set()  # state keys of the held messages written to the state table
        self.added: list[Held] = []  # arrived since the last save
        self.released: list[Held] = []
        self.restored = not restore_lazily
        self.pending = pending_check(self.positions, self._highwater, unseen=self._start_and_end)
        self._ends: dict[tuple[str, int], tuple[int, float]] = {}  # tp -> (end offset, when looked up)
        self._lookup: Any = None

    def _watermarks(self) -> Any:
        """A confluent-kafka consumer (never subscribed) for offset lookups. faust's own high watermarks
        are not usable here: before a partition's first fetch aiokafka reports 0 for it."""
        if self._lookup is None:
            from confluent_kafka import Consumer

            self._lookup = Consumer(consumer_config(self.settings, self.group))
        return self._lookup

    def _highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end offset, looked up again (at most every 0.2 s) once the worker reached the
        end it knew: so a partition with lag is waited for, and a caught-up one is not."""
        from confluent_kafka import TopicPartition

        tp = (topic, partition)
        end, when = self._ends.get(tp, (None, 0.0))
        position = self.positions.get(tp)
        now = time.monotonic()
        if end is None or (position is not None and position >= end and now - when > 0.2):
            try:
                end = self._watermarks().get_watermark_offsets(TopicPartition(topic, partition), timeout=5)[1]
            except Exception:  # noqa: BLE001 - unknown: the idle rule decides
                return None
            self._ends[tp] = (end, now)
        return end

    def _start_and_end(self, topic: str, partition: int) -> tuple[int, int] | None:
        """Where the group resumes in a partition (its committed offset, else the log start: the worker
        reads from the earliest) and the partition's end — for a partition nothing arrived from yet,
        so that at start-up a partition that is still being fetched holds the others back."""
        from confluent_kafka import TopicPartition

        try:
            consumer = self._watermarks()
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
            [committed] = consumer.committed([TopicPartition(topic, partition)], timeout=5)
        except Exception:  # noqa: BLE001 - unknown: the idle rule decides
            return None
        self._ends[(topic, partition)] = (high, time.monotonic())
        start = committed.offset if committed.offset >= 0 else low
        return start, high

    def restore(self, partitions: set[int] | None = None) -> None:
        """Holds again the messages saved in the state table (of ``partitions``, default all)."""
        for held in restore_held((k.decode(), v) for k, v in list(self.table.items())):
            if partitions is None or held.partition in partitions:
                self.aligner.add(held)
                self.saved.add(held.state_key)

    def forget(self, partitions: set[int]) -> None:
        """Revoked or lost partitions: their held messages are the next owner's (it restores them)."""
        self.saved = {key for key in self.saved if int(key.rsplit(":", 2)[1]) not in partitions}
        self.added = [held for held in self.added if held.partition not in partitions]
        self.released = [held for held in self.released if held.partition not in partitions]
        for tp in [tp for tp in self.positions if tp[1] in partitions]:
            del self.positions[tp]

    def arrived(self, messages: Iterable[Held]) -> list[Held]:
        if not self.restored:
            self.restored = True
            self.restore()
        self.aligner.assign(self.assignment())
        for held in messages:
            self.positions[(held.topic, held.partition)] = held.offset + 1
            self.aligner.add(held)
            self.added.append(held)
        released = self.aligner.release(self.pending)
        self.released.extend(released)
        return released

    def save(self) -> list[StateWrite]:
        """Writes what arrived and is still held, deletes what was saved and is now released (in the
        table; the caller writes the returned changes to the changelog in the current transaction).
        Messages that arrive and leave in the same batch are never written."""
        writes: list[StateWrite] = []
        gone: set[tuple[str, int, int]] = set()
        for held in self.released:
            gone.add((held.topic, held.partition, held.offset))
            key = held.state_key
            if key in self.saved:
                self.saved.discard(key)
                self.table.pop(key.encode(), None)
                writes.append((key.encode(), None, held.partition))
        for held in self.added:
            if (held.topic, held.partition, held.offset) not in gone:
                key = held.state_key
                self.saved.add(key)
                value = held.dumps()
                self.table[key.encode()] = value
                writes.append((key.encode(), value, held.partition))
        self.added = []
        self.released = []
        return writes


def observe_batch(
    seen: Iterable[tuple[str, int, int, float, bool]], events_in: dict[str, Any], lag: Any, group: str,
    highwater: Callable[[str, int], int | None],
) -> None:
    """Metrics of one batch of ``(topic, partition, offset, timestamp_s, marker)``: events in per topic, lag
    of its newest event, consumer lag per partition. A marker (``is_marker``: a watermark, progress or bound
    record) is no event: it moves the consumer's position only."""
    counts: dict[str, int] = {}
    newest_s = 0.0
    last_offsets: dict[tuple[str, int], int] = {}
    for topic, partition, offset, timestamp_s, marker in seen:
        last_offsets[(topic, partition)] = offset
        if marker:
            continue
        counts[topic] = counts.get(topic, 0) + 1
        if timestamp_s > newest_s:
            newest_s = timestamp_s
    for physical, n in counts.items():
        for logical, counter in events_in.items():
            if physical.endswith(logical):
                counter.inc(n)
    if newest_s:
        lag.observe(max(0.0, time.time() - newest_s))
    for (topic, partition), offset in last_offsets.items():
        end = highwater(topic, partition)
        if end is not None:
            metrics.CONSUMER_LAG.labels(group, topic, str(partition)).set(max(0, end - offset - 1))
