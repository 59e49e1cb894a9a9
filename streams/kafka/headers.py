"""Kafka message headers Mercado writes and reads.

``mercado-produced-us``: the wall-clock time (integer microseconds since the epoch, as ASCII digits)
at which ``mercado produce`` / ``mercado backfill`` produced the message. The driver turns it into
``record["_produced_us"]`` (ingest latency) and the admission bound ``max_ahead_s`` measures an
event's time against it, in the live worker and in the replay alike.
"""

from __future__ import annotations

from collections.abc import Sequence

PRODUCED_AT_HEADER = "mercado-produced-us"


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
