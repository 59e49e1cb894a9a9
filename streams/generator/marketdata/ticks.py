"""A venue:symbol feed as parallel lists, and its conversion to PriceTick records."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.generator.clock import iso


@dataclass
class TickSeries:
    """The ticks one venue:symbol feed sent during the day, in time order."""

    venue: str
    symbol: str
    times: list[int] = field(default_factory=list)
    bids: list[float] = field(default_factory=list)
    asks: list[float] = field(default_factory=list)
    lasts: list[float] = field(default_factory=list)
    volumes: list[float] = field(default_factory=list)
    sequences: list[int] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"{self.venue}:{self.symbol}"

    def append(self, t: int, bid: float, ask: float, last: float, volume: float, sequence: int) -> None:
        self.times.append(t)
        self.bids.append(bid)
        self.asks.append(ask)
        self.lasts.append(last)
        self.volumes.append(volume)
        self.sequences.append(sequence)

    def record(self, i: int) -> dict[str, Any]:
        seq = self.sequences[i]
        return {
            "event_id": f"{self.venue}:{self.symbol}:{seq}",
            "event_time": iso(self.times[i]),
            "venue": self.venue,
            "symbol": self.symbol,
            "bid": self.bids[i],
            "ask": self.asks[i],
            "last": self.lasts[i],
            "volume": self.volumes[i],
            "sequence": seq,
        }

    def __len__(self) -> int:
        return len(self.times)


def merged_tick_records(series: Sequence[TickSeries]) -> Iterator[dict[str, Any]]:
    """All ticks of all feeds by event time; ties keep the order of ``series``."""
    streams = [_keyed(k, s.times) for k, s in enumerate(series)]
    for _t, k, i in heapq.merge(*streams):
        yield series[k].record(i)


def _keyed(k: int, times: list[int]) -> Iterator[tuple[int, int, int]]:
    for i, t in enumerate(times):
        yield t, k, i
