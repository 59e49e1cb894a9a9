"""The bars of one interval for one key: bars in progress, the close cursor and gap detection.

``cursor`` is the start of the first bar interval not yet finalized. When the watermark passes an
interval's end + grace, the interval is finalized in order: its bar is closed, or — when no tick
fell in it — it extends the pending gap run. Closed time between sessions is skipped in one step.
Every session interval from the key's first event on is therefore either a bar or part of a gap.

One call of :meth:`BarSeries.finalize` (one watermark move) reports at most ``max_reports`` Gaps before
it coalesces the rest of the move's empty intervals into one (see processors/marketdata/gaps.py), and
then skips each empty stretch of a session in one step: however far the watermark jumps, the output
is bounded by ``max_reports`` + 1 Gaps and the bars that were open.
"""

from __future__ import annotations

from typing import Any

from processors.core import Record
from processors.marketdata.bars import OpenBar, bar_piece, fold_base_bar
from processors.marketdata.calendars import SessionCalendar, Span
from processors.marketdata.gaps import GapDetector


class BarSeries:
    __slots__ = ("interval_s", "interval_us", "calendar", "open_bars", "cursor", "gaps", "max_reports", "_span")

    def __init__(self, interval_s: int, calendar: SessionCalendar, gaps: GapDetector, max_reports: int = 24):
        self.interval_s = interval_s
        self.interval_us = interval_s * 1_000_000
        self.calendar = calendar
        self.open_bars: dict[int, OpenBar] = {}
        self.cursor: int | None = None
        self.gaps = gaps
        self.max_reports = max_reports
        self._span = Span(None, 0, 0)

    def start_at(self, t: int) -> None:
        """Finalization starts with the interval of the key's first event (or the next session)."""
        span = self.calendar.span_at(t)
        self.cursor = span.hi if span.session is None else bar_piece(t, self.interval_us, span.session)[0]

    def lower_cursor(self, start: int) -> None:
        """A bar opened before the cursor: only possible right after the first event (out of order)."""
        if self.cursor is None or start < self.cursor:
            self.cursor = start

    def fold(self, base: OpenBar, volume: float, notional: float) -> None:
        """A closed base bar, into this (longer) interval's bar holding it."""
        self.lower_cursor(fold_base_bar(self.open_bars, self.interval_us, base, volume, notional))

    def finalize(self, limit: int, watermark: int) -> list[OpenBar | Record]:
        """Finalizes, in order, every interval whose end is <= ``limit`` (= watermark - grace).

        Returns the closed bars and the Gap records, interleaved in time order."""
        out: list[OpenBar | Record] = []
        cursor = self.cursor
        if cursor is None:
            return out
        interval = self.interval_us
        open_bars = self.open_bars
        gaps = self.gaps
        calendar = self.calendar
        span = self._span
        budget = self.max_reports  # Gaps this move may still report one by one; 0: coalescing
        while True:
            if not span.lo <= cursor < span.hi:
                span = calendar.span_at(cursor)
            session = span.session
            if session is None:
                cursor = span.hi
                if cursor > limit:
                    break
                continue
            if not budget:
                # coalescing: an empty stretch of the session up to the limit, or to the next open bar, at once
                stop = session.end if session.end <= limit else limit - limit % interval
                if open_bars:
                    stop = min(stop, min(open_bars))
                if stop > cursor:
                    gaps.extend(cursor, stop, session.name, 1 + (stop - 1) // interval - cursor // interval)
                    cursor = stop
                    continue
            end = cursor - cursor % interval + interval
            if end > session.end:
                end = session.end
            if end > limit:
                break
            bar = open_bars.pop(cursor, None)
            if bar is not None:
                gap = gaps.flush(watermark)
                if gap is not None:
                    out.append(gap)
                    budget -= budget > 0
                out.append(bar)
            elif budget:
                gap = gaps.empty_interval(cursor, end, session.name, watermark)
                if gap is not None:
                    out.append(gap)
                    budget -= 1
            else:
                gaps.extend(cursor, end, session.name, 1)
            cursor = end
            if cursor == session.end and budget:
                gap = gaps.flush(watermark)
                if gap is not None:
                    out.append(gap)
                    budget -= 1
        if not budget:  # the coalesced run ends with the move
            gap = gaps.flush(watermark)
            if gap is not None:
                out.append(gap)
        self.cursor = cursor
        self._span = span
        return out

    def next_end(self) -> int | None:
        """The end of the next interval to finalize (it is finalized once watermark - grace reaches it)."""
        cursor = self.cursor
        if cursor is None:
            return None
        span = self.calendar.span_at(cursor)
        if span.session is None:
            cursor = span.hi
            span = self.calendar.span_at(cursor)
            if span.session is None:  # no session at all ahead (beyond the calendar's data)
                return span.hi
        return bar_piece(cursor, self.interval_us, span.session)[1]

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval_s,
            "cursor": self.cursor,
            "open_bars": [bar.snapshot() for _, bar in sorted(self.open_bars.items())],
            "gap_run": self.gaps.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state["interval_s"] != self.interval_s:
            raise ValueError(f"snapshot of a {state['interval_s']}s series restored into a {self.interval_s}s one")
        self.cursor = state["cursor"]
        self.open_bars = {}
        for bar_state in state["open_bars"]:
            bar = OpenBar.restore(bar_state)
            self.open_bars[bar.start] = bar
        self.gaps.restore(state["gap_run"])
