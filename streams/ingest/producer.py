"""``mercado produce``: read a file, validate every row against the topic's schema, encode, produce.

The producer is idempotent (librdkafka retries never duplicate or reorder within a partition). Each
message's Kafka timestamp is the event's ``event_time`` (so replays can seek by event time) and the
header ``mercado-produced-us`` carries the wall-clock time it was produced (ingest latency).
Rows without an ``event_id`` get one derived from their content, so producing the same file twice
yields the same ids and consumers can drop the repeats.

On topics that carry several record types, the column ``type`` names each row's type; it may be
left out for the topic's first (primary) type, e.g. PriceTick rows on ``md.ticks.v1``.

Rows whose Python types already match the schema (e.g. Parquet with integer timestamps) are encoded
directly; the first row that needs conversion switches that record type to the converting path.
Parquet batches whose columns map one-to-one onto the schema are encoded a whole column at a time
(:mod:`streams.codec.columnar`, byte-identical to the row path); any other batch goes row by row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Producer

from processors.admission import Column, batch_admitted, violations
from streams.codec.coerce import RecordCoercer, RowError, record_coercer
from streams.codec.columnar import ColumnarEncoder, string_keys
from streams.codec.serde import AvroSerde, EncodeError
from streams.config import Settings
from streams.ingest.files import RejectsWriter, detect_format, is_unreadable, read_csv, read_jsonl, read_parquet
from streams.kafka.catalog import TopicSpec, topic
from streams.kafka.clients import producer_config
from streams.kafka.headers import PRODUCED_AT_HEADER, watermark_header
from streams.observability import metrics

TYPE_COLUMN = "type"
Progress = Callable[[int, int], None]  # (done, total) in the reader's units


class BadRowError(ValueError):
    """A row that does not fit the topic's schema: names the file, the line and the field."""

    def __init__(self, path: Path, line: int, message: str, produced: int = 0):
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message
        self.produced = produced


class DeliveryError(RuntimeError):
    """The broker did not acknowledge some messages."""


@dataclass
class ProduceReport:
    topic: str
    path: Path
    produced: int = 0
    rejected: int = 0
    elapsed_s: float = 0.0
    by_schema: dict[str, int] = field(default_factory=dict)
    rejects_path: Path | None = None

    @property
    def rate(self) -> float:
        return self.produced / self.elapsed_s if self.elapsed_s > 0 else 0.0


class DeliveryTracker:
    """Counts failed deliveries of a confluent-kafka producer (configured to report only failures)."""

    def __init__(self) -> None:
        self.failed = 0
        self.errors: list[str] = []

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(f"{msg.topic()}[{msg.partition()}]: {err.str()}")


def content_event_id(body: bytes) -> str:
    """A deterministic id for an event that came without one: a hash of its encoded content."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


@dataclass
class _RecordType:
    name: str
    coercer: RecordCoercer
    encode: Callable[[dict[str, Any]], bytes]
    key_of: Callable[[dict[str, Any]], str]
    key_fields: tuple[str, ...]
    columnar: ColumnarEncoder | None  # None: the schema has fields only the row path encodes
    direct: bool = True  # try encoding the row as-is first


@dataclass
class _EncodedBatch:
    """A Parquet batch encoded column-wise: one record type, values, keys and Kafka timestamps (ms)."""

    name: str
    values: list[bytes]
    keys: list[str]
    timestamps_ms: list[int]
    checked_us: int  # the wall clock its event times were checked against (its first produced-at stamp)


class FileProducer:
    """Produces the rows of files to one catalog topic."""

    def __init__(
        self,
        settings: Settings,
        topic_name: str | TopicSpec,
        *,
        serde: AvroSerde | None = None,
        producer: Producer | None = None,
    ):
        self.spec: TopicSpec = topic_name if isinstance(topic_name, TopicSpec) else topic(topic_name)
        self.topic_name = settings.topic(self.spec.name)
        if not self.spec.schemas:
            raise ValueError(f"{self.spec.name} carries no schema (it is the dead-letter topic); nothing to produce")
        self.serde = serde or AvroSerde(registry_url=settings.kafka.schema_registry_url)
        self.tracker = DeliveryTracker()
        # Delivery reports only for failures: a Python callback per acknowledged message would cost
        # more than the encoding; delivered = produced - failed once flush() returns 0.
        self.producer = producer or Producer(
            producer_config(settings, **{"delivery.report.only.error": True, "on_delivery": self.tracker})
        )
        self._own_producer = producer is None
        ignore = frozenset({TYPE_COLUMN}) if self.spec.multi_schema else frozenset()
        self._ignore = ignore
        self.types = {
            name: _RecordType(
                name,
                record_coercer(self.serde.schemas[name], ignore=ignore, derived=frozenset({"event_id"})),
                self.serde.encoder(name, settings.topic(self.spec.name)),
                self.spec.key_function(name),
                tuple(self.spec.key_overrides.get(name, self.spec.key_fields)),
                ColumnarEncoder.maybe(self.serde.schemas[name].wire,
                                      self.serde.frame_header(name, settings.topic(self.spec.name))),
            )
            for name in self.spec.schemas
        }
        self._single = None if self.spec.multi_schema else self.types[self.spec.schemas[0]]
        self.admission = settings.admission
        # the wall clock rows are checked against: the produced-at stamp of the messages being produced
        self.now_us = time.time_ns() // 1000
        self.high_ms: int | None = None  # the highest event time (ms) written to the topic so far
        self._partitions: int | None = None

    # ------------------------------------------------------------------ one row
    def _record_type(self, row: dict[str, Any]) -> _RecordType:
        if not self.spec.multi_schema:
            return self.types[self.spec.schemas[0]]
        name = row.get(TYPE_COLUMN) or self.spec.schemas[0]
        found = self.types.get(name) if isinstance(name, str) else None
        if found is None:
            raise RowError(TYPE_COLUMN, f"must name the record type, one of {', '.join(self.spec.schemas)}")
        return found

    def encode_row(self, row: Any) -> tuple[str, str, int, bytes]:
        """``(schema name, key, event_time_us, value)``, or :class:`RowError` naming the field."""
        if type(row) is dict:
            rt = self._single or self._record_type(row)
            if rt.direct and rt.coercer.allowed.issuperset(row) and row.get("event_id"):
                try:
                    value = rt.encode(row)
                except (EncodeError, KeyError, TypeError):
                    rt.direct = False  # this file needs conversion: stop trying the direct path
                else:
                    self._admit(rt.name, row)
                    return rt.name, rt.key_of(row), row["event_time"], value
        return self._encode_converting(row)

    def _admit(self, name: str, record: dict[str, Any]) -> None:
        """Raises :class:`RowError` when the record breaks an admission rule (processors/admission.py)
        at the wall-clock time of its produced-at stamp."""
        found = violations(name, record, self.now_us, self.admission)
        if found:
            first = found[0]
            more = "".join(f"; also field {v.field!r}: {v.message}" for v in found[1:])
            raise RowError(first.field, first.message + more)

    def _encode_converting(self, row: Any) -> tuple[str, str, int, bytes]:
        unreadable = is_unreadable(row)
        if unreadable is not None:
            raise RowError("", unreadable)
        if not isinstance(row, dict):
            raise RowError("", f"expected an object with the fields of {'/'.join(self.spec.schemas)}")
        rt = self._record_type(row)
        record = rt.coercer(row)
        if not record.get("event_id"):
            record["event_id"] = ""
            framed = rt.encode(record)
            record["event_id"] = content_event_id(framed[10:] if framed[0] == 0xC3 else framed[5:])
        try:
            value = rt.encode(record)
        except EncodeError as exc:
            raise RowError("", str(exc)) from None
        self._admit(rt.name, record)
        return rt.name, rt.key_of(record), record["event_time"], value

    def encode_batch(self, batch: Any, now_us: int | None = None) -> _EncodedBatch | None:
        """A whole Arrow record batch, column-wise, when it maps one-to-one onto one record type
        (see :mod:`streams.codec.columnar`); None sends it row by row. Admission is checked at ``now_us``
        (default: the wall clock now)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        names = batch.schema.names
        if self.spec.multi_schema and TYPE_COLUMN in names:
            types = batch.column(names.index(TYPE_COLUMN))
            if types.null_count or not pa.types.is_string(types.type) or len(distinct := pc.unique(types)) != 1:
                return None
            rt = self.types.get(distinct[0].as_py())
        else:
            rt = self.types[self.spec.schemas[0]]
        if rt is None or rt.columnar is None or "event_time" not in names:
            return None
        event_time = batch.column(names.index("event_time"))
        if not pa.types.is_integer(event_time.type) or event_time.null_count:
            return None
        checked_us = time.time_ns() // 1000 if now_us is None else now_us
        if not batch_admitted(rt.name, _numeric_columns(batch, rt.columnar.names), checked_us, self.admission):
            return None  # row by row: the row path names the row and the rule it breaks
        keys = string_keys(batch, rt.key_fields)
        if keys is None:
            return None
        values = rt.columnar.encode(batch, self._ignore)
        if values is None:
            return None
        timestamps = (event_time.to_numpy(zero_copy_only=False).astype("int64") // 1000).tolist()
        return _EncodedBatch(rt.name, values, keys, timestamps, checked_us)

    def _produce_waiting(self, value: bytes, key: str, timestamp_ms: int, headers: list[tuple[str, bytes]]) -> None:
        """produce() once librdkafka's queue has room (serving deliveries meanwhile)."""
        while True:
            self.producer.poll(0.05)
            try:
                self.producer.produce(self.topic_name, value, key, timestamp=timestamp_ms, headers=headers)
                return
            except BufferError:
                continue

    # ------------------------------------------------------------------ a file
    def produce_file(
        self,
        path: Path,
        *,
        fmt: str | None = None,
        rejects: Path | None = None,
        progress: Progress | None = None,
    ) -> ProduceReport:
        fmt = detect_format(path, fmt)
        report = ProduceReport(self.spec.name, path)
        started = time.perf_counter()
        rejects_writer: RejectsWriter | None = None
        total = path.stat().st_size
        header: list[str] | None = None
        with path.open("rb") as bfh:
            if fmt == "jsonl":
                rows = read_jsonl(bfh)
            elif fmt == "csv":
                text = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
                bfh.close()
                bfh = text  # type: ignore[assignment]
                header, rows = read_csv(text)
                self._check_columns(path, header)
            else:
                bfh.close()
                header, total, rows = read_parquet(path, encode_batch=self.encode_batch)
                self._check_columns(path, header)
            if rejects is not None:
                rejects_writer = RejectsWriter(rejects, fmt, header)
                report.rejects_path = rejects
            produce = self.producer.produce
            poll = self.producer.poll
            topic_name = self.topic_name
            encode_row = self.encode_row
            counts = report.by_schema
            parquet = fmt == "parquet"
            done_units = 0
            n = 0
            self.now_us = time.time_ns() // 1000
            headers = [(PRODUCED_AT_HEADER, str(self.now_us).encode())]
            events_out = metrics.EVENTS_OUT.labels(topic_name, "produce")
            reported = 0
            high_ms = self.high_ms
            high_us = -1 if high_ms is None else high_ms * 1000
            try:
                for line, raw, row in rows:
                    if type(row) is _EncodedBatch:
                        # its first stamp is the instant its event times were checked against
                        headers = [(PRODUCED_AT_HEADER, str(row.checked_us).encode())]
                        for value, key, timestamp in zip(row.values, row.keys, row.timestamps_ms, strict=True):
                            n += 1
                            if n & 255 == 0:
                                headers = [(PRODUCED_AT_HEADER, str(time.time_ns() // 1000).encode())]
                            try:
                                produce(topic_name, value, key, timestamp=timestamp, headers=headers)
                            except BufferError:
                                self._produce_waiting(value, key, timestamp, headers)
                            if n & 4095 == 0:
                                poll(0)
                        counts[row.name] = counts.get(row.name, 0) + len(row.values)
                        if row.timestamps_ms:
                            top = max(row.timestamps_ms)
                            if high_ms is None or top > high_ms:
                                high_ms, high_us = top, top * 1000
                        produced_now = sum(counts.values())
                        events_out.inc(produced_now - reported)
                        reported = produced_now
                        if progress is not None:
                            progress(line, total)
                        continue
                    n += 1
                    if n & 255 == 0:  # the produced-at stamp is refreshed every 256 rows (≈ 2 ms) ...
                        self.now_us = time.time_ns() // 1000  # ... and is the time the rows are checked at
                        headers = [(PRODUCED_AT_HEADER, str(self.now_us).encode())]
                    try:
                        name, key, event_time, value = encode_row(row)
                    except RowError as exc:
                        report.rejected += 1
                        if rejects_writer is None:
                            report.produced = sum(counts.values())
                            self._finish(report, started)
                            raise BadRowError(path, line, str(exc), report.produced) from None
                        rejects_writer.write(raw, row)
                        continue
                    try:
                        produce(topic_name, value, key, timestamp=event_time // 1000, headers=headers)
                    except BufferError:  # librdkafka's queue is full: serve deliveries until there is room
                        self._produce_waiting(value, key, event_time // 1000, headers)
                    counts[name] = counts.get(name, 0) + 1
                    if high_ms is None or event_time > high_us:
                        high_us = event_time
                        high_ms = event_time // 1000
                    if not parquet:
                        done_units += len(raw) if raw else 0
                    if n & 4095 == 0:
                        produced_now = sum(counts.values())
                        events_out.inc(produced_now - reported)
                        reported = produced_now
                        poll(0)
                        if progress is not None:
                            progress(line if parquet else done_units, total)
                report.produced = sum(counts.values())
                events_out.inc(report.produced - reported)
                if high_ms is not None:  # the end of an input: its watermark, on every partition of the topic
                    self.high_ms = high_ms
                    self.announce_watermark(high_ms)
            finally:
                if rejects_writer is not None:
                    rejects_writer.close()
                if not bfh.closed:
                    bfh.close()
        self._finish(report, started)
        if progress is not None:
            progress(total, total)
        return report

    def announce_watermark(self, t_ms: int, strict: bool = False) -> None:
        """Writes a watermark marker (``streams/kafka/headers.py``: no key, no value, header and Kafka
        timestamp ``t_ms``) to every partition of the topic: "this producer writes nothing more at or before
        ``t_ms`` here" (docs/architecture.md, "Scale-out"). ``produce_file`` writes one at the end of each
        input, at the highest event time written to the topic so far; a producer that knows its input is
        complete up to a later time calls it with that. ``strict``: the producer keeps announcing while idle
        (a live feed: its readers then never pass the partition on a timer). Delivered with the rows
        (``flush``; a transactional producer: in its open transaction). None on a compacted topic (it takes
        no record without a key; and it is no stream input)."""
        if "compact" in (self.spec.cleanup_policy or ""):
            return
        if self._partitions is None:
            meta = self.producer.list_topics(self.topic_name, timeout=30).topics.get(self.topic_name)
            if meta is None or meta.error is not None or not meta.partitions:
                raise DeliveryError(f"{self.topic_name}: no partitions to write a watermark marker to")
            self._partitions = len(meta.partitions)
        headers = [watermark_header(t_ms, strict)]
        for q in range(self._partitions):
            while True:
                try:
                    self.producer.produce(self.topic_name, None, None, partition=q, timestamp=int(t_ms),
                                          headers=headers)
                    break
                except BufferError:
                    self.producer.poll(0.05)

    def _check_columns(self, path: Path, columns: list[str]) -> None:
        allowed: set[str] = set()
        for rt in self.types.values():
            allowed |= rt.coercer.allowed
        unknown = sorted(c for c in columns if c not in allowed)
        if unknown:
            raise BadRowError(
                path,
                1,
                f"column {unknown[0]!r} is not a field of {'/'.join(self.spec.schemas)}"
                + (f" (also: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""),
            )

    def _finish(self, report: ProduceReport, started: float) -> None:
        self.flush()
        report.elapsed_s = time.perf_counter() - started

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self.producer.flush(timeout)
        if remaining or self.tracker.failed:
            raise DeliveryError(
                f"{self.tracker.failed} message(s) failed and {remaining} were not acknowledged: "
                + "; ".join(self.tracker.errors)
            )


def _numeric_columns(batch: Any, fields: frozenset[str]) -> dict[str, Column]:
    """The batch's integer and floating-point columns that are fields, as :func:`batch_admitted` takes them."""
    import pyarrow as pa

    out: dict[str, Column] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_dictionary(column.type):  # as the columnar encoder sees it
            column = column.cast(column.type.value_type)
        if name in fields and (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            valid = column.is_valid().to_numpy(zero_copy_only=False) if column.null_count else None
            out[name] = (column.to_numpy(zero_copy_only=False), valid)
    return out
