"""``mercado produce``: read a file, validate every row against the topic's schema, encode, produce.

The producer is idempotent (librdkafka retries never duplicate or reorder within a partition). Each
message's Kafka timestamp is the event's ``event_time`` (so replays can seek by event time) and the
header ``mercado-produced-us`` carries the wall-clock time it was produced (ingest latency).
Rows without an ``event_id`` get one derived from their content, so producing the same file twice
yields the same ids and consumers can drop the repeats.

Rows whose Python types already match the schema (e.g. Parquet with integer timestamps) are encoded
directly; the first row that needs conversion switches that record type to the converting path.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Producer

from streams.catalog import TopicSpec, topic
from streams.coerce import RecordCoercer, RowError, record_coercer
from streams.config import Settings
from streams.files import RejectsWriter, detect_format, is_unreadable, read_csv, read_jsonl, read_parquet
from streams.kafka_clients import producer_config
from streams.serde import AvroSerde, EncodeError

PRODUCED_AT_HEADER = "mercado-produced-us"
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
    """Counts acknowledged and failed deliveries of a confluent-kafka producer."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
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
    direct: bool = True  # try encoding the row as-is first


class FileProducer:
    """Produces the rows of files to one catalog topic."""

    def __init__(
        self,
        settings: Settings,
        topic_name: str,
        *,
        serde: AvroSerde | None = None,
        producer: Producer | None = None,
    ):
        self.spec: TopicSpec = topic(topic_name)
        if not self.spec.schemas:
            raise ValueError(f"{topic_name} carries no schema (it is the dead-letter topic); nothing to produce")
        self.serde = serde or AvroSerde(registry_url=settings.schema_registry_url)
        self.tracker = DeliveryTracker()
        self.producer = producer or Producer(producer_config(settings))
        self._own_producer = producer is None
        ignore = frozenset({TYPE_COLUMN}) if self.spec.multi_schema else frozenset()
        self.types = {
            name: _RecordType(
                name,
                record_coercer(self.serde.schemas[name], ignore=ignore, derived=frozenset({"event_id"})),
                self.serde.encoder(name, self.spec.name),
            )
            for name in self.spec.schemas
        }
        self.key_of = self.spec.key_function()

    # ------------------------------------------------------------------ one row
    def _record_type(self, row: dict[str, Any]) -> _RecordType:
        if not self.spec.multi_schema:
            return self.types[self.spec.schemas[0]]
        name = row.get(TYPE_COLUMN)
        found = self.types.get(name) if isinstance(name, str) else None
        if found is None:
            raise RowError(TYPE_COLUMN, f"must name the record type, one of {', '.join(self.spec.schemas)}")
        return found

    def encode_row(self, row: Any) -> tuple[str, str, int, bytes]:
        """``(schema name, key, event_time_us, value)``, or :class:`RowError` naming the field."""
        unreadable = is_unreadable(row)
        if unreadable is not None:
            raise RowError("", unreadable)
        if not isinstance(row, dict):
            raise RowError("", f"expected an object with the fields of {'/'.join(self.spec.schemas)}")
        rt = self._record_type(row)
        if rt.direct and row.get("event_id") and not (row.keys() - rt.coercer.allowed):
            try:
                value = rt.encode(row)
                return rt.name, self.key_of(row), row["event_time"], value
            except (EncodeError, KeyError, TypeError):
                rt.direct = False
        record = rt.coercer(row)
        if not record.get("event_id"):
            record["event_id"] = ""
            record["event_id"] = content_event_id(rt.encode(record)[10:])
        try:
            value = rt.encode(record)
        except EncodeError as exc:
            raise RowError("", str(exc)) from None
        return rt.name, self.key_of(record), record["event_time"], value

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
                header, total, rows = read_parquet(path)
                self._check_columns(path, header)
            if rejects is not None:
                rejects_writer = RejectsWriter(rejects, fmt, header)
                report.rejects_path = rejects
            produce = self.producer.produce
            poll = self.producer.poll
            topic_name = self.spec.name
            on_delivery = self.tracker
            done_units = 0
            n = 0
            try:
                for line, raw, row in rows:
                    n += 1
                    if fmt != "parquet":
                        done_units += len(raw) if raw else 0
                    else:
                        done_units = line
                    try:
                        name, key, event_time, value = self.encode_row(row)
                    except RowError as exc:
                        report.rejected += 1
                        if rejects_writer is None:
                            self._finish(report, started)
                            raise BadRowError(path, line, str(exc), report.produced) from None
                        rejects_writer.write(raw, row)
                        continue
                    headers = [(PRODUCED_AT_HEADER, str(time.time_ns() // 1000).encode())]
                    while True:
                        try:
                            produce(
                                topic_name,
                                value,
                                key,
                                timestamp=event_time // 1000,
                                headers=headers,
                                on_delivery=on_delivery,
                            )
                            break
                        except BufferError:
                            poll(0.05)
                    report.produced += 1
                    report.by_schema[name] = report.by_schema.get(name, 0) + 1
                    if n % 4096 == 0:
                        poll(0)
                        if progress is not None:
                            progress(done_units, total)
            finally:
                if rejects_writer is not None:
                    rejects_writer.close()
                if not bfh.closed:
                    bfh.close()
        self._finish(report, started)
        if progress is not None:
            progress(total, total)
        return report

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
