"""Replay / backtest: read input topics for a time range, drive the same processors in-process.

The range is a range of the log: per partition, from the first offset whose timestamp (= event time,
as Mercado's producers set it) is ≥ ``--from`` to the first offset whose timestamp is ≥ ``--to``
(or the end). Partitions are merged in event-time order (Kafka timestamp, then partition, then
offset); each partition keeps its log order, so every key sees exactly the sequence the live worker
saw, and the outputs are the live outputs. Outputs go to Parquet files (one per derived topic) or to
topics named ``<prefix><topic>``.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from processors.core import TOMBSTONE, PipelineSpec
from processors.ordering import WriterWatermarks
from processors.stages import StageRoutes
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.kafka.catalog import TopicSpec, topic
from streams.kafka.clients import end_reader_config, producer_config
from streams.kafka.consumer import fetch_ready, watermarks, when_ready
from streams.kafka.headers import read_watermark, read_writer_watermark
from streams.runtime.align import merge_keyer
from streams.runtime.driver import Output, PipelineDriver, Rejected

Progress = Callable[[int, int], None]
_BUFFER_HIGH = 20_000  # messages buffered per partition before it is paused


@dataclass(frozen=True, slots=True)
class InputMessage:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    decoded: Any = None  # the value decoded with its fetched batch (AvroSerde.decode_many), when done
    order_ms: int = 0  # what the merge orders it by (streams/runtime/align.py merge_key)


@dataclass
class PartitionRange:
    topic: str
    partition: int
    start: int
    end: int  # exclusive


def partition_ranges(
    consumer: Consumer, topics: list[str], start_ms: int | None, end_ms: int | None, timeout: float = 30.0
) -> list[PartitionRange]:
    md = consumer.list_topics(timeout=timeout)
    out: list[PartitionRange] = []
    for name in topics:
        if name not in md.topics or md.topics[name].error is not None:
            raise KeyError(f"topic {name!r} does not exist")
        for p in sorted(md.topics[name].partitions):
            low, high = watermarks(consumer, TopicPartition(name, p), timeout)
            start = (
                when_ready(partial(_offset_for, consumer, name, p, start_ms, high, timeout), timeout)
                if start_ms is not None
                else low
            )
            # Not the first offset at or after end_ms: timestamps need not grow along a partition (an
            # out-of-order tick, or a far-future one that the runtime refuses), and the first one past the
            # end would cut off every later message inside the range. The reader filters by timestamp.
            end = high
            out.append(PartitionRange(name, p, max(start, low), max(end, max(start, low))))
    return out


def _offset_for(consumer: Consumer, name: str, p: int, ts_ms: int, high: int, timeout: float) -> int:
    [tp] = consumer.offsets_for_times([TopicPartition(name, p, ts_ms)], timeout=timeout)
    return high if tp.offset < 0 else tp.offset  # -1: no message at or after ts_ms


class KafkaRangeReader:
    """Messages of the given partition ranges, merged in event-time order."""

    def __init__(self, settings: Settings, topics: list[str], start_ms: int | None, end_ms: int | None,
                 serde: AvroSerde | None = None):
        """Raises ``KeyError`` for a topic that does not exist. With ``serde``, each fetched batch is
        decoded at once (``InputMessage.decoded``)."""
        self.serde = serde
        self._consumer = Consumer(end_reader_config(settings, f"mercado-replay-{time.time_ns()}"))
        ranges = partition_ranges(self._consumer, topics, start_ms, end_ms)
        self.start_ms, self.end_ms = start_ms, end_ms  # messages outside [start_ms, end_ms) are skipped
        self.admission = settings.admission  # what the runtime will refuse is merged first (streams/runtime/align.py)
        self.ranges = [r for r in ranges if r.end > r.start]
        self.total = sum(r.end - r.start for r in self.ranges)

    def __iter__(self) -> Iterator[InputMessage]:
        if not self.ranges:
            return
        c = self._consumer
        merge_key = merge_keyer(self.admission)
        writers = WriterWatermarks()  # another pipeline's tasks' markers: min over the writers, per partition
        by_tp = {(r.topic, r.partition): r for r in self.ranges}
        buffers: dict[tuple[str, int], deque[InputMessage]] = {tp: deque() for tp in by_tp}
        starving = set(by_tp)  # unfinished partitions with nothing buffered: must fetch before merging
        done: set[tuple[str, int]] = set()
        paused: set[tuple[str, int]] = set()
        heap: list[tuple[int, int, str]] = []  # (timestamp, partition, topic) of each non-empty buffer's head
        c.assign([TopicPartition(r.topic, r.partition, r.start) for r in self.ranges])
        while True:
            while starving:
                fetched = fetch_ready(c, 2000, 1.0)
                # decoded together, column-wise, before the merge takes them one by one
                decoded = self.serde.decode_many([m.value() for m in fetched]) if self.serde is not None else None
                for n, msg in enumerate(fetched):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            # A topic a worker writes (transactions) ends with a commit marker that is never
                            # delivered: its high watermark, the range's end, is one past it. The end of what
                            # is committed ends the range too.
                            tp = (msg.topic(), msg.partition())
                            if tp in by_tp and tp not in done:
                                done.add(tp)
                                starving.discard(tp)
                            continue
                        raise RuntimeError(f"replay consumer error: {err.str()}")
                    tp = (msg.topic(), msg.partition())
                    if tp in done or msg.offset() >= by_tp[tp].end:
                        continue
                    buf = buffers[tp]
                    ts = msg.timestamp()[1]
                    if msg.offset() + 1 >= by_tp[tp].end:
                        done.add(tp)
                        starving.discard(tp)
                    if (self.start_ms is not None and ts < self.start_ms) or (
                            self.end_ms is not None and ts >= self.end_ms):
                        continue
                    headers = msg.headers()
                    announced = read_writer_watermark(msg.value(), headers)
                    if announced is None:
                        key = merge_key(ts, headers)
                    else:  # merged as a message of event time (min over the writers) + 1 that writes nothing
                        t = writers.combine(*tp, *announced)
                        key = -1 if t is None else t + 1
                    if not buf:
                        heapq.heappush(heap, (key, tp[1], tp[0]))
                        starving.discard(tp)
                    buf.append(InputMessage(tp[0], tp[1], msg.offset(), ts, msg.value(), headers,
                                            None if decoded is None else decoded[n], key))
                    if len(buf) >= _BUFFER_HIGH and tp not in paused:
                        c.pause([TopicPartition(*tp)])
                        paused.add(tp)
            if not heap:
                return
            _, partition, topic_name = heapq.heappop(heap)
            tp = (topic_name, partition)
            buf = buffers[tp]
            m = buf.popleft()
            # a producer's watermark marker is merged as a message of event time T (its key) that writes nothing
            if m.value is not None or (read_watermark(None, m.headers) is None
                                       and read_writer_watermark(None, m.headers) is None):
                yield m
            if buf:
                heapq.heappush(heap, (buf[0].order_ms, partition, topic_name))
            elif tp not in done:
                starving.add(tp)
            if tp in paused and len(buf) < _BUFFER_HIGH // 4:
                c.resume([TopicPartition(*tp)])
                paused.discard(tp)

    def close(self) -> None:
        self._consumer.close()


class OutputSink(Protocol):
    def write(self, outputs: list[Output]) -> None: ...
    def close(self) -> dict[str, int]: ...


class ParquetOutput:
    """One Parquet file per derived topic, ``<dir>/<topic>.parquet``, with ``_key`` as first column."""

    def __init__(self, out_dir: Path, serde: AvroSerde):
        self.dir = out_dir
        self.serde = serde
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def write(self, outputs: list[Output]) -> None:
        for o in outputs:
            rec = dict(o.emit.record)
            rec["_key"] = o.key
            self.rows.setdefault((o.topic, o.emit.schema), []).append(rec)

    def close(self) -> dict[str, int]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from streams.codec.arrow import to_table

        self.dir.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        by_topic: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
        for (t, schema), rows in self.rows.items():
            by_topic.setdefault(t, []).append((schema, rows))
        for t, parts in sorted(by_topic.items()):
            for schema, rows in parts:
                name = t if len(parts) == 1 else f"{t}.{schema}"
                if schema == TOMBSTONE:  # deletions of a compacted topic's keys: key and time only
                    pq.write_table(pa.Table.from_pylist(rows), self.dir / f"{name}.parquet")
                    counts[name] = len(rows)
                    continue
                table = to_table(self.serde.schemas[schema].expanded, rows, [pa.field("_key", pa.string())])
                pq.write_table(table, self.dir / f"{name}.parquet")
                counts[name] = len(rows)
        return counts


class TopicOutput:
    """Produces outputs to ``<prefix><topic>`` (created like the catalog topic) with an idempotent producer."""

    def __init__(self, settings: Settings, prefix: str, topics: tuple[str, ...]):
        from streams.kafka.admin import ensure_topics

        self.prefix = prefix
        specs = []
        for t in topics:
            base = topic(t)
            specs.append(TopicSpec(prefix + t, base.schemas, base.key_fields, f"replay of {t}", base.partitions,
                                   base.cleanup_policy, base.retention_ms))
        ensure_topics(settings, tuple(specs))
        self.physical = {t: settings.topic(prefix + t) for t in topics}
        self.producer = Producer(producer_config(settings))
        self.counts: dict[str, int] = {}

    def write(self, outputs: list[Output]) -> None:
        for o in outputs:
            name = self.physical[o.topic]
            while True:
                try:
                    self.producer.produce(name, o.value, o.key, timestamp=o.timestamp_ms)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            self.counts[name] = self.counts.get(name, 0) + 1
        self.producer.poll(0)

    def close(self) -> dict[str, int]:
        if self.producer.flush(60):
            raise RuntimeError("replay outputs were not all acknowledged by the broker")
        return dict(self.counts)


@dataclass
class ReplayReport:
    inputs: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # rejected inputs by reason (undecodable, event-time-…)
    outputs: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.inputs / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run_replay(
    messages: Iterator[InputMessage] | list[InputMessage],
    stages: PipelineSpec | list[PipelineSpec],
    serde: AvroSerde,
    sink: OutputSink,
    *,
    total: int = 0,
    progress: Progress | None = None,
    drivers: list[PipelineDriver] | None = None,
) -> ReplayReport:
    """Feeds messages (already merged in event-time order) through the pipeline's stages into ``sink``.

    A stage's outputs that are a later stage's inputs go to that stage at once, on the partition Kafka
    would put them in (:class:`processors.stages.StageRoutes`, the routing of every multi-stage runner),
    so each later stage sees its input partitions in the order they are appended live. Every output
    (intermediate topics too) is written to ``sink``. ``drivers`` (one per stage, in order; built here
    when not given) lets the caller read the stages' state afterwards.
    """
    from streams.kafka.catalog import topic as catalog_topic

    specs = stages if isinstance(stages, list) else [stages]
    if drivers is None:
        drivers = [PipelineDriver(spec, serde) for spec in specs]
    elif len(drivers) != len(specs) or any(d.spec is not spec for d, spec in zip(drivers, specs, strict=True)):
        raise ValueError("one driver per stage, of the stages given")
    routes = StageRoutes(specs, lambda t: catalog_topic(t).partitions)
    later, place = routes.later, routes.partition
    report = ReplayReport()
    started = time.perf_counter()
    write = sink.write

    def feed(i: int, topic_name: str, partition: int, offset: int, value: bytes | None, headers: Any,
             decoded: Any = None) -> None:
        if decoded is not None:
            result = drivers[i].process_decoded(topic_name, partition, offset, decoded, headers)
        else:
            result = drivers[i].process(topic_name, partition, offset, value, headers)
        if isinstance(result, Rejected):
            report.rejected += 1
            report.reasons[result.error.reason] += 1
            return
        if not result:
            return
        write(result)
        for out in result:
            for j in later(i, out.topic):
                feed(j, out.topic, place(out.topic, out.key), -1, out.value, None)

    n = 0
    first = drivers[0].process
    first_decoded = drivers[0].process_decoded
    for m in messages:
        n += 1
        if len(drivers) == 1:  # the common case, without the recursion
            if m.decoded is not None:
                result = first_decoded(m.topic, m.partition, m.offset, m.decoded, m.headers)
            else:
                result = first(m.topic, m.partition, m.offset, m.value, m.headers)
            if isinstance(result, Rejected):
                report.rejected += 1
                report.reasons[result.error.reason] += 1
            elif result:
                write(result)
        else:
            feed(0, m.topic, m.partition, m.offset, m.value, m.headers, m.decoded)
        if progress is not None and n % 8192 == 0:
            progress(n, total)
    report.inputs = n - report.rejected
    report.outputs = sink.close()
    from streams.observability import metrics

    metrics.EVENTS_IN.labels(",".join(specs[0].inputs), "replay").inc(report.inputs)
    for name, count in report.outputs.items():
        metrics.EVENTS_OUT.labels(name, "replay").inc(count)
    report.elapsed_s = time.perf_counter() - started
    if progress is not None:
        progress(n, total)
    return report
