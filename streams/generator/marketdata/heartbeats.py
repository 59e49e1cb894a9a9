"""Heartbeats: every few seconds of event time while a feed is open but silent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.generator.clock import iso
from streams.generator.marketdata.calendars import Window


def heartbeat_times(tick_times: Iterable[int], open_window: Window, every_us: int) -> list[int]:
    """Instants ``last_activity + k * every`` that fall before the next tick (or the window's end).

    Activity starts at the window's opening, so a feed that is slow to send its first tick is
    covered too.
    """
    out: list[int] = []
    previous = open_window.start
    for t in [*tick_times, open_window.end]:
        beat = previous + every_us
        while beat < t and beat < open_window.end:
            out.append(beat)
            beat += every_us
        previous = t
    return out


def heartbeat_record(source: str, t: int) -> dict[str, Any]:
    return {"event_id": f"hb:{source}:{t}", "event_time": iso(t), "source": source}
