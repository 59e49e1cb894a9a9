"""Backfill: replacement ticks for a past range, turned into bar revisions on ``BackfillComplete``.

Ticks with a ``backfill_id`` are buffered per backfill id; they neither move the watermark nor count
as late. On ``BackfillComplete(backfill_id, start, end)`` every bar interval (of every configured
interval) that lies entirely inside [start, end), inside a session, and that the live watermark has
already closed (end + grace <= watermark) is rebuilt from the buffered ticks alone and re-emitted
as the next revision of its bar key; then the buffer is dropped. Intervals with no replacement tick
are not re-emitted (a gap stays a gap). Buffered ticks that fall outside such intervals (outside
[start, end), off session, in a partly covered interval, or in an interval still open) are skipped
and counted (``backfill_ticks_skipped``). Revised bars do not feed indicators, alerts or data
quality: those stay as computed on the live stream.
"""

from __future__ import annotations

from typing import Any

from processors.marketdata.bars import OpenBar, bar_piece, fold_base_bar
from processors.marketdata.calendars import SessionCalendar

BufferedTick = list[Any]  # [event_time, sequence, price, volume, event_id]


class BackfillBuffers:
    """Replacement ticks per backfill id, until their BackfillComplete."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: dict[str, list[BufferedTick]] = {}

    def add(self, backfill_id: str, t: int, sequence: int, price: float, volume: float, event_id: str) -> None:
        ticks = self.pending.get(backfill_id)
        if ticks is None:
            ticks = self.pending[backfill_id] = []
        ticks.append([t, sequence, price, volume, event_id])

    def take(self, backfill_id: str) -> list[BufferedTick]:
        return self.pending.pop(backfill_id, [])

    def snapshot(self) -> dict[str, list[BufferedTick]]:
        return {bid: [list(t) for t in ticks] for bid, ticks in sorted(self.pending.items())}

    def restore(self, state: dict[str, list[BufferedTick]]) -> None:
        self.pending = {bid: [list(t) for t in ticks] for bid, ticks in state.items()}


def rebuild_bars(
    ticks: list[BufferedTick],
    calendar: SessionCalendar,
    intervals_us: list[int],
    start: int,
    end: int,
    closed_until: int,
) -> tuple[list[list[OpenBar]], int]:
    """The rebuilt bars of each interval (in start order) and the number of ticks skipped.

    ``intervals_us[0]`` is the base interval; the longer bars are folded from the rebuilt base bars,
    exactly as live. Only intervals inside [start, end) that end at or before ``closed_until`` count."""
    base_us = intervals_us[0]
    base_bars: dict[int, OpenBar] = {}
    skipped = 0
    for t, sequence, price, volume, event_id in ticks:
        session = calendar.span_at(t).session if start <= t < end else None
        if session is None:
            skipped += 1
            continue
        piece_start, piece_end = bar_piece(t, base_us, session)
        if piece_start < start or piece_end > end or piece_end > closed_until:
            skipped += 1
            continue
        tick = {"event_id": event_id, "sequence": sequence}
        bar = base_bars.get(piece_start)
        if bar is None:
            base_bars[piece_start] = OpenBar(piece_start, piece_end, session, t, price, volume, tick)
        else:
            bar.add(t, price, volume, tick)
    rebuilt = [[base_bars[s] for s in sorted(base_bars)]]
    for interval_us in intervals_us[1:]:
        longer: dict[int, OpenBar] = {}
        for base in rebuilt[0]:
            piece_start, piece_end = bar_piece(base.start, interval_us, base.session)
            if piece_start >= start and piece_end <= end and piece_end <= closed_until:
                fold_base_bar(longer, interval_us, base, *base.totals())
        rebuilt.append([longer[s] for s in sorted(longer)])
    return rebuilt, skipped
