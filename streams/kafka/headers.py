"""Kafka message headers Mercado writes and reads.

``mercado-produced-us``: the wall-clock time (integer microseconds since the epoch, as ASCII digits)
at which ``mercado produce`` / ``mercado backfill`` produced the message. The driver turns it into
``record["_produced_us"]`` (ingest latency) and the admission bound ``max_ahead_s`` measures an
event's time against it, in the live worker and in the replay alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson

PRODUCED_AT_HEADER = "mercado-produced-us"
# The wall time (integer microseconds, ASCII digits) the live worker took to process the input an output
# came from, on the outputs a pipeline names (PipelineSpec.timed_outputs; e.g. a scanner's board summary)
PROCESSING_HEADER = "mercado-processing-us"
# Progress markers of repartition topics (streams/runtime/ordered.py): records without a value
PROGRESS_HEADER = "mercado-progress"
BOUND_HEADER = "mercado-bound"
# A producer's watermark marker on an input topic (docs/architecture.md, "Scale-out"): a record without key
# or value whose header carries an event time T (integer milliseconds, ASCII digits, like a Kafka
# timestamp; the marker's Kafka timestamp is T too): "this producer writes nothing more at or before T on
# this partition" (a Flink watermark); ``T;strict`` when the producer also keeps announcing while idle
# (a live feed), so that readers may hold the partition strictly, never passing it on a timer.
WATERMARK_HEADER = "mercado-watermark"
_STRICT = b";strict"
# A pipeline task's watermark marker on a topic that another pipeline reads (docs/architecture.md,
# "Watermarks in the log"): JSON ``[writer topic, writer partition, writers, T]`` — the task (its input
# partition of ``writers``, the writing stage's task count) writes nothing more at or before T on this
# partition. Several tasks write each partition: a reader takes the min of the latest T of every writer
# (:class:`processors.ordering.WriterWatermarks`), and holds the partition strictly (they keep announcing).
WRITER_WATERMARK_HEADER = "mercado-writer-watermark"
_MARKERS = (PROGRESS_HEADER, BOUND_HEADER, WATERMARK_HEADER, WRITER_WATERMARK_HEADER)


def is_marker(value: bytes | None, headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None) -> bool:
    """A marker (no value; a progress, bound or watermark header): not an event; readers other than the
    runtime (the sink, ``mercado events``) skip it."""
    return value is None and any(name in _MARKERS for name, _ in _pairs(headers))


def watermark_header(t_ms: int, strict: bool = False) -> tuple[str, bytes]:
    return WATERMARK_HEADER, str(int(t_ms)).encode() + (_STRICT if strict else b"")


def _pairs(headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None) -> Iterable[tuple[str, bytes]]:
    """(name, value) pairs of headers given as pairs (confluent-kafka, aiokafka) or as a dict (faust)."""
    return headers.items() if isinstance(headers, dict) else headers or ()


def watermark_of(headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None) -> int | None:
    """The event time T (ms) of a watermark marker's header; None when there is none (or it is not an
    integer: then the message is not a watermark marker)."""
    for name, value in _pairs(headers):
        if name == WATERMARK_HEADER:
            try:
                return int(value.removesuffix(_STRICT))
            except (AttributeError, TypeError, ValueError):
                return None
    return None


def watermark_strict(headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None) -> bool:
    """Whether a watermark marker's producer keeps announcing (``T;strict``)."""
    return any(name == WATERMARK_HEADER and value.endswith(_STRICT) for name, value in _pairs(headers))


def read_watermark(value: bytes | None,
                   headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None) -> int | None:
    """T of a watermark marker (a message without a value and with the header), else None."""
    return watermark_of(headers) if value is None and headers else None


def writer_watermark_header(writer_topic: str, writer_partition: int, writers: int, t_ms: int) -> tuple[str, bytes]:
    return WRITER_WATERMARK_HEADER, b'["%s",%d,%d,%d]' % (writer_topic.encode(), writer_partition, writers, t_ms)


def read_writer_watermark(value: bytes | None, headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None
                          ) -> tuple[str, int, int, int] | None:
    """(writer topic, writer partition, writers, T) of a pipeline task's watermark marker, else None."""
    if value is not None or not headers:
        return None
    for name, raw in _pairs(headers):
        if name == WRITER_WATERMARK_HEADER:
            try:
                topic, partition, writers, t = orjson.loads(raw)
                return str(topic), int(partition), int(writers), int(t)
            except (TypeError, ValueError):
                return None
    return None


def produced_at(headers: Sequence[tuple[str, bytes]] | dict[str, bytes] | None) -> int | None:
    """The ``mercado-produced-us`` stamp of a message's headers; ``None`` when absent, empty or not an integer."""
    if headers:
        for name, value in headers.items() if isinstance(headers, dict) else headers:
            if name == PRODUCED_AT_HEADER and value:
                try:
                    return int(value)
                except ValueError:
                    return None
    return None
