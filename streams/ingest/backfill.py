"""``mercado backfill md.ticks.v1 FILE``: replacement ticks for a past range, then one marker per symbol.

Every tick of the file is produced with ``backfill_id`` set (so processors buffer it instead of
treating it as late), then one ``BackfillComplete(venue, symbol, backfill_id, start, end)`` per
venue:symbol tells the bar processor to rebuild the bars of [start, end) and re-emit them as
revisions of the same bar keys. The id defaults to a hash of the file's bytes, so running the same
backfill twice gives the same ids. The range defaults to the ticks' own span, per symbol.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processors import topics
from processors.admission import violations
from streams.config import Settings
from streams.ingest.producer import FileProducer, ProduceReport

BACKFILLABLE = (topics.TICKS,)


@dataclass
class KeySpan:
    venue: str
    symbol: str
    start: int
    end: int  # exclusive
    ticks: int = 0


@dataclass
class BackfillReport:
    backfill_id: str
    ticks: ProduceReport
    spans: dict[str, KeySpan] = field(default_factory=dict)


def file_backfill_id(path: Path) -> str:
    h = hashlib.blake2b(digest_size=8)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"bf-{h.hexdigest()}"


class BackfillProducer(FileProducer):
    """A file producer that stamps rows with the backfill id and records each symbol's span."""

    def __init__(self, settings: Settings, topic_name: str, backfill_id: str, **kwargs: Any):
        if topic_name not in BACKFILLABLE:
            raise ValueError(f"backfill works on {', '.join(BACKFILLABLE)}, not {topic_name}")
        super().__init__(settings, topic_name, **kwargs)
        self.backfill_id = backfill_id
        self.spans: dict[str, KeySpan] = {}

    def encode_row(self, row: Any) -> tuple[str, str, int, bytes]:
        if isinstance(row, dict):
            if row.get("type", "PriceTick") != "PriceTick":
                from streams.codec.coerce import RowError

                raise RowError("type", "a backfill file holds PriceTick rows only")
            row["backfill_id"] = self.backfill_id
        name, key, event_time, value = super().encode_row(row)
        span = self.spans.get(key)
        if span is None:
            venue, _, symbol = key.partition(":")
            span = self.spans[key] = KeySpan(venue, symbol, event_time, event_time + 1)
        span.start = min(span.start, event_time)
        span.end = max(span.end, event_time + 1)
        span.ticks += 1
        return name, key, event_time, value


def run_backfill(
    settings: Settings,
    topic_name: str,
    path: Path,
    *,
    backfill_id: str | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
    progress: Any = None,
) -> BackfillReport:
    """Produces the replacement ticks, then the per-symbol completion markers (after the ticks are acked).

    Ticks are checked like ``mercado produce``'s rows (processors/admission.py); the markers too, and a
    range given with ``start_us``/``end_us`` is checked before any tick is produced."""
    bid = backfill_id or file_backfill_id(path)
    producer = BackfillProducer(settings, topic_name, bid)
    if start_us is not None or end_us is not None:
        probe_start = start_us if start_us is not None else end_us
        probe_end = end_us if end_us is not None else start_us
        _check_marker(producer, {"event_time": probe_start, "start": probe_start, "end": probe_end}, "--from/--to")
    ticks = producer.produce_file(path, progress=progress)  # flushes: every tick is acked before the markers
    encode = producer.serde.encoder("BackfillComplete", producer.topic_name)
    markers: list[tuple[str, dict[str, Any]]] = []
    for key, span in sorted(producer.spans.items()):
        if start_us is not None:
            span.start = start_us
        if end_us is not None:
            span.end = end_us
        marker = {
            "event_id": f"bfc:{bid}:{key}",
            "event_time": span.start,
            "venue": span.venue,
            "symbol": span.symbol,
            "backfill_id": bid,
            "start": span.start,
            "end": span.end,
            "tick_count": span.ticks,
        }
        _check_marker(producer, marker, f"the marker of {key}")
        markers.append((key, marker))
    for key, marker in markers:
        producer.producer.produce(producer.topic_name, encode(marker), key, timestamp=marker["start"] // 1000)
    producer.flush()
    return BackfillReport(bid, ticks, producer.spans)


def _check_marker(producer: FileProducer, marker: dict[str, Any], what: str) -> None:
    """A BackfillComplete that breaks an admission rule (e.g. --from after --to, or before the floor)
    stops the backfill before any marker is produced."""
    found = violations("BackfillComplete", marker, time.time_ns() // 1000, producer.admission)
    if found:
        raise ValueError(f"{what}: " + "; ".join(f"field {v.field!r}: {v.message}" for v in found))
