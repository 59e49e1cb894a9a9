"""Gap detection: runs of consecutive empty bar intervals inside one session.

A run is reported as one ``Gap`` when it ends: when the next interval of the session has a bar, when
the session ends, or once the run holds ``max_bars`` intervals (``gap_report_max_s`` worth) — the
last rule is what reports a silent feed while it is still silent (heartbeats move the watermark);
the run then goes on as a new Gap starting where the reported one ended.

Bounded output: when one watermark move would report more than ``max_reports_per_advance`` Gaps of an
interval, the rest of that move's empty intervals are coalesced (:meth:`GapDetector.extend`) into one Gap
that may span sessions and closed time (``session`` is the session of its first interval,
``missing_bars`` counts session intervals only), reported at the end of the move.
"""

from __future__ import annotations

from typing import Any

from processors.core import Record
from processors.marketdata.records import gap_record


class GapDetector:
    __slots__ = ("venue", "symbol", "interval_s", "max_bars", "start", "end", "count", "session")

    def __init__(self, venue: str, symbol: str, interval_s: int, max_bars: int):
        self.venue = venue
        self.symbol = symbol
        self.interval_s = interval_s
        self.max_bars = max_bars
        self.start = 0
        self.end = 0
        self.count = 0  # empty intervals in the pending run; 0 = no run
        self.session = ""

    def empty_interval(self, start: int, end: int, session: str, watermark: int) -> Record | None:
        """One more empty interval, right after the previous one (or a new run)."""
        if self.count == 0:
            self.start, self.session = start, session
        self.end = end
        self.count += 1
        if self.count >= self.max_bars:
            return self.flush(watermark)
        return None

    def extend(self, start: int, end: int, session: str, count: int) -> None:
        """``count`` more empty intervals from ``start`` to ``end`` into the pending run, whatever its length
        and across sessions (a coalesced run: flushed by the caller)."""
        if self.count == 0:
            self.start, self.session = start, session
        self.end = end
        self.count += count

    def flush(self, watermark: int) -> Record | None:
        """Ends the pending run, if any, and returns its Gap."""
        if self.count == 0:
            return None
        record = gap_record(self.venue, self.symbol, self.interval_s, self.start, self.end, self.count, self.session,
                            watermark)
        self.count = 0
        return record

    def snapshot(self) -> list[Any]:
        return [self.start, self.end, self.count, self.session]

    def restore(self, state: list[Any]) -> None:
        self.start, self.end, self.count, self.session = state
