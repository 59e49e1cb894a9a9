"""Kafka message headers Mercado writes and reads.

``mercado-produced-us``: the wall-clock time (integer microseconds since the epoch, as ASCII digits)
at which ``mercado produce`` / ``mercado backfill`` produced the message. The driver turns it into
``record["_produced_us"]`` (ingest latency) and the admission bound ``max_ahead_s`` measures an
event's time against it, in the live worker and in the replay alike.
"""

from __future__ import annotations

from collections.abc import Sequence

PRODUCED_AT_HEADER = "mercado-produced-us"
# The wall time (integer microseconds, ASCII digits) the live worker took to process the input an output
# came from, on the outputs a pipeline names (PipelineSpec.timed_outputs; e.g. a scanner's board summary)
PROCESSING_HEADER = "mercado-processing-us"
# Progress markers of repartition topics (streams/runtime/ordered.py): records without a value
PROGRESS_HEADER = "mercado-progress"
BOUND_HEADER = "mercado-bound"


def is_marker(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> bool:
    """A repartition topic's progress marker (no value, a progress or bound header): not an event; readers
    other than the stage that merges the topic (the sink, ``mercado events``) skip it."""
    return value is None and any(name in (PROGRESS_HEADER, BOUND_HEADER) for name, _ in headers or ())


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
