"""OHLCV bars on event time: one :class:`OpenBar` per bar interval in progress.

Bar intervals are aligned to the UTC epoch ([k·I, (k+1)·I)) and clipped to the session that holds
them, so a bar never straddles a session boundary: an aligned interval that crosses one becomes one
bar per session piece, each with its own (clipped) ``start`` and ``end``. With 1- and 5-minute bars
and sessions opening and closing on whole minutes (08:00–12:55 Bogota, 09:30 New York) no clipping
ever happens; it matters for longer intervals (an hourly bar 09:00–10:00 New York is a ``pre`` bar
09:00–09:30 and a ``regular`` bar 09:30–10:00).

Sums are exact: a bar keeps the volume and the notional (price × volume) of each of its ticks and
adds them with ``math.fsum`` (correctly rounded) when it closes, so the same ticks give the same bar
whatever their arrival order. Open and close are the prices of the first and last tick by
(event_time, sequence), also independent of arrival order. A snapshot does not carry the per-tick
lists: it carries their exact sums (every double is an integer multiple of 2^-1074, so the sum is an
exact integer, written as hex mantissa and binary exponent), and a restored bar ends with the same
correctly rounded totals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from processors.core import Record
from processors.marketdata.calendars import Session
from processors.marketdata.records import bar_event_id

TickRef = Mapping[str, Any]  # the tick record itself, or {"event_id", "sequence"} after a restore
_EXACT_SHIFT = 1074  # every finite double is an integer multiple of 2**-1074


_VECTOR_FROM = 32  # below this many values the plain loop is as fast as numpy's set-up


def exact_scaled_sum(values: list[float]) -> int:
    """The exact sum of ``values`` times 2**1074, as an integer.

    The live worker folds an open bar's volumes and notionals into this sum at every commit: after a
    second of 800 ticks a key, the per-value loop cost ~0.5 ms per key and bar list, ~10 ms per commit
    over 12 keys, all on the commit's (and so every output's) path. numpy does it in one pass, exactly:
    ``frexp`` splits each double into a 53-bit integer mantissa and an exponent; the mantissas of one
    exponent are summed as integers (split in halves of 27 and 26 bits so int64 cannot overflow), and
    each exponent's sum is shifted into place as a Python int."""
    if len(values) < _VECTOR_FROM:
        return _exact_scaled_sum_loop(values)
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        return _exact_scaled_sum_loop(values)  # raises on inf and nan, as float.as_integer_ratio does
    fractions, exponents = np.frexp(array)  # value = fraction * 2**exponent, 0.5 <= |fraction| < 1
    mantissas = np.ldexp(fractions, 53).astype(np.int64)  # exact: a double has 53 significant bits
    high, low = mantissas >> 27, mantissas & ((1 << 27) - 1)
    total = 0
    for exponent in np.unique(exponents).tolist():
        chosen = exponents == exponent
        part = (int(high[chosen].sum()) << 27) + int(low[chosen].sum())
        # value * 2**1074 = mantissa * 2**(exponent - 53 + 1074); for subnormals the shift is negative and
        # drops only zero bits (their mantissas end in as many zeros)
        shift = exponent + _EXACT_SHIFT - 53
        total += part << shift if shift >= 0 else part >> -shift
    return total


def _exact_scaled_sum_loop(values: list[float]) -> int:
    total = 0
    for value in values:
        numerator, denominator = value.as_integer_ratio()
        total += numerator << (_EXACT_SHIFT + 1 - denominator.bit_length())
    return total


def scaled_text(total: int) -> str:
    """An exact sum as ``<hex mantissa>p<shift>`` (``0x34p1003`` is 0x34 << 1003), the trailing zero bits
    dropped: a sum of doubles near 1 has ~1,000 of them, which plain ``hex()`` wrote out as ~270 zeros,
    twice per open bar and snapshot (the live worker snapshots every busy key at every commit)."""
    if total == 0:
        return "0x0"
    shift = (total & -total).bit_length() - 1
    return f"{hex(total >> shift)}p{shift}" if shift else hex(total)


def scaled_from_text(text: str) -> int:
    """The inverse of :func:`scaled_text`; also reads the plain ``hex()`` of earlier snapshots."""
    mantissa, _, shift = text.partition("p")
    return int(mantissa, 16) << int(shift) if shift else int(mantissa, 16)


def rounded_scaled(total: int) -> float:
    """A sum from :func:`exact_scaled_sum`, correctly rounded to a double (as ``math.fsum`` rounds)."""
    return total / (1 << _EXACT_SHIFT)


class OpenBar:
    """A bar still receiving ticks (or base bars, for the longer intervals)."""

    __slots__ = (
        "start", "end", "session", "open", "high", "low", "close",
        "first_t", "first_tick", "last_t", "last_tick", "count", "volumes", "notionals",
        "carried_volume", "carried_notional",
    )

    def __init__(self, start: int, end: int, session: Session, t: int, price: float, volume: float, tick: TickRef):
        self.start = start
        self.end = end
        self.session = session
        self.open = self.high = self.low = self.close = price
        self.first_t = self.last_t = t
        self.first_tick = self.last_tick = tick
        self.count = 1
        if volume:
            self.volumes = [volume]
            self.notionals = [price * volume]
        else:
            self.volumes = []
            self.notionals = []
        self.carried_volume = 0  # exact sums (× 2**1074) of what a snapshot folded out of the lists
        self.carried_notional = 0

    def add(self, t: int, price: float, volume: float, tick: TickRef) -> None:
        self.count += 1
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        if volume:
            self.volumes.append(volume)
            self.notionals.append(price * volume)
        if t > self.last_t or (t == self.last_t and tick["sequence"] > self.last_tick["sequence"]):
            self.close = price
            self.last_t = t
            self.last_tick = tick
        elif t < self.first_t or (t == self.first_t and tick["sequence"] < self.first_tick["sequence"]):
            self.open = price
            self.first_t = t
            self.first_tick = tick

    def merge_later(self, later: OpenBar, volume: float, notional: float) -> None:
        """Folds in a closed base bar that starts after every bar folded so far."""
        self.count += later.count
        if later.high > self.high:
            self.high = later.high
        if later.low < self.low:
            self.low = later.low
        self.close = later.close
        self.last_t = later.last_t
        self.last_tick = later.last_tick
        self.volumes.append(volume)
        self.notionals.append(notional)

    def totals(self) -> tuple[float, float]:
        """(volume, notional), correctly rounded sums."""
        volume = math.fsum(self.volumes) if self.carried_volume == 0 else rounded_scaled(
            self.carried_volume + exact_scaled_sum(self.volumes))
        notional = math.fsum(self.notionals) if self.carried_notional == 0 else rounded_scaled(
            self.carried_notional + exact_scaled_sum(self.notionals))
        return volume, notional

    def record(self, venue: str, symbol: str, interval_s: int, price_source: str, revision: int,
               volume: float, notional: float) -> Record:
        """The Bar record; ``volume`` and ``notional`` are :meth:`totals`."""
        return {
            "event_id": bar_event_id(venue, symbol, interval_s, self.start, revision),
            "event_time": self.end,
            "venue": venue,
            "symbol": symbol,
            "interval_s": interval_s,
            "start": self.start,
            "end": self.end,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": volume,
            "vwap": notional / volume if volume else None,
            "tick_count": self.count,
            "price_source": price_source,
            "session": self.session.name,
            "revision": revision,
            "first_tick_id": self.first_tick["event_id"],
            "last_tick_id": self.last_tick["event_id"],
        }

    # ------------------------------------------------------------------ state
    def snapshot(self) -> list[Any]:
        # The lists are folded into the exact sums here, so the next snapshot sums only what came since:
        # the live worker snapshots an open bar at every commit (up to 100 a second), and summing all of
        # a busy bar's ticks each time was half of its CPU. totals() rounds carried + lists exactly as
        # math.fsum rounds the lists, so the outputs are the same either way.
        if self.volumes:
            self.carried_volume += exact_scaled_sum(self.volumes)
            self.volumes = []
        if self.notionals:
            self.carried_notional += exact_scaled_sum(self.notionals)
            self.notionals = []
        return [
            self.start, self.end, list(self.session), self.open, self.high, self.low, self.close,
            self.first_t, self.first_tick["event_id"], self.first_tick["sequence"],
            self.last_t, self.last_tick["event_id"], self.last_tick["sequence"],
            self.count,
            scaled_text(self.carried_volume),
            scaled_text(self.carried_notional),
        ]

    @classmethod
    def restore(cls, state: list[Any]) -> OpenBar:
        (start, end, session, open_, high, low, close, first_t, first_id, first_seq,
         last_t, last_id, last_seq, count, volume_sum, notional_sum) = state
        bar = cls.__new__(cls)
        bar.start, bar.end, bar.session = start, end, Session(*session)
        bar.open, bar.high, bar.low, bar.close = open_, high, low, close
        bar.first_t, bar.first_tick = first_t, {"event_id": first_id, "sequence": first_seq}
        bar.last_t, bar.last_tick = last_t, {"event_id": last_id, "sequence": last_seq}
        bar.count, bar.volumes, bar.notionals = count, [], []
        bar.carried_volume = scaled_from_text(volume_sum)
        bar.carried_notional = scaled_from_text(notional_sum)
        return bar


def bar_piece(t: int, interval_us: int, session: Session) -> tuple[int, int]:
    """[start, end) of the bar of ``interval_us`` holding ``t``, clipped to ``session``."""
    aligned = t - t % interval_us
    end = aligned + interval_us
    return (aligned if aligned > session.start else session.start), (end if end < session.end else session.end)


def fold_base_bar(bars: dict[int, OpenBar], interval_us: int, base: OpenBar, volume: float, notional: float) -> int:
    """Adds a closed base bar to the longer bar of ``interval_us`` holding it; returns that bar's start.

    Base bars must be folded in start order (they close in that order)."""
    start, end = bar_piece(base.start, interval_us, base.session)
    bar = bars.get(start)
    if bar is None:
        bar = OpenBar(start, end, base.session, base.first_t, base.open, 0.0, base.first_tick)
        bar.high, bar.low, bar.close = base.high, base.low, base.close
        bar.last_t, bar.last_tick, bar.count = base.last_t, base.last_tick, base.count
        bar.volumes.append(volume)
        bar.notionals.append(notional)
        bars[start] = bar
    else:
        bar.merge_later(base, volume, notional)
    return start
