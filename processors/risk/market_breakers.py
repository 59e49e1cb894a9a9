"""Breakers fed by the ticks of one venue:symbol: spread and volatility.

Both compare exactly, on the decimals the doubles were written as (``Decimal(repr(x))``), without
dividing: the spread violates when ``(ask - bid) x 20,000 > threshold_bps x (ask + bid)`` (that is
``(ask - bid) / mid x 10,000 > threshold``), the volatility when ``(high - low) x 100 > threshold_pct x mid``.
A float evaluation decides first; only when it lands within 1e-9 (relative) of the threshold — far
wider than the float error — is the decision recomputed in decimals. So boundaries are exact and the
hot path stays in floats.

Volatility: high and low are the highest and lowest mid of the ticks in the window
``[t - window, t]`` (the current tick included; mid = (bid + ask) / 2, or the last price of a tick
without both sides), kept in two monotonic deques. An older entry leaves a deque only when a newer one
beats it by more than 1e-12 (relative; float noise is ~1e-16), so the exact extreme is always among the entries
and the decimal fallback scans just those.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from processors.risk.breaker import CircuitBreaker, Timing
from processors.risk.exact import EXACT, HUNDRED, mid_decimal, price_decimal, ratio

_TOLERANCE = 1e-9
_BELOW = 1.0 - 1e-12  # an older entry leaves a deque only when beaten by more than float noise
_ABOVE = 1.0 + 1e-12
TWENTY_THOUSAND = Decimal(20_000)


class SpreadBreaker(CircuitBreaker):
    __slots__ = ("venue", "symbol", "scope", "name", "threshold", "threshold_f", "tolerance_f")
    kind = "SPREAD"
    unit = "bps"

    def __init__(self, venue: str, symbol: str, threshold_bps: Decimal, timing: Timing):
        super().__init__(timing)
        self.venue = venue
        self.symbol = symbol
        self.scope = f"{venue}:{symbol}"
        self.name = f"SPREAD:{self.scope}"
        self.threshold = threshold_bps
        self.threshold_f = float(threshold_bps)
        self.tolerance_f = _TOLERANCE * (20_000.0 + self.threshold_f)  # x (ask + bid): the float decision's margin

    def violates(self, bid: float, ask: float) -> bool:
        """Both sides present and usable, ``bid <= ask``."""
        total = ask + bid
        gap = (ask - bid) * 20_000.0 - self.threshold_f * total
        tolerance = self.tolerance_f * total
        if gap > tolerance:
            return True
        if gap < -tolerance:
            return False
        return self.violates_exactly(bid, ask)

    def violates_exactly(self, bid: float, ask: float) -> bool:
        a, b = price_decimal(ask), price_decimal(bid)
        return EXACT.multiply(EXACT.subtract(a, b), TWENTY_THOUSAND) > EXACT.multiply(self.threshold, EXACT.add(a, b))

    @staticmethod
    def value(bid: float, ask: float) -> Decimal:
        """(ask - bid) / mid x 10,000, exactly, rounded to 12 places."""
        a, b = price_decimal(ask), price_decimal(bid)
        return ratio(EXACT.multiply(EXACT.subtract(a, b), TWENTY_THOUSAND), EXACT.add(a, b), Decimal(1))

    def snapshot(self) -> list[Any]:
        return self.machine_snapshot()

    def restore(self, state: list[Any]) -> None:
        self.machine_restore(state)


# a window entry: (t, mid as float, bid, ask) — a tick without both sides stores its last price twice
Entry = tuple[int, float, float, float]


class VolatilityBreaker(CircuitBreaker):
    __slots__ = ("venue", "symbol", "scope", "name", "threshold", "_threshold_f", "_tolerance_f", "window_us", "highs",
                 "lows")
    kind = "VOLATILITY"
    unit = "pct"

    def __init__(self, venue: str, symbol: str, threshold_pct: Decimal, window_us: int, timing: Timing):
        super().__init__(timing)
        self.venue = venue
        self.symbol = symbol
        self.scope = f"{venue}:{symbol}"
        self.name = f"VOLATILITY:{self.scope}"
        self.threshold = threshold_pct
        self._threshold_f = float(threshold_pct)
        self._tolerance_f = _TOLERANCE * (100.0 + self._threshold_f)  # x (high + low + mid): see add()
        self.window_us = window_us
        self.highs: deque[Entry] = deque()  # mids decreasing (up to noise): the front is the window's high
        self.lows: deque[Entry] = deque()  # mids increasing (up to noise): the front is the window's low

    def add(self, t: int, mid: float, bid: float, ask: float, judge: bool) -> bool:
        """Adds a tick (``t`` never decreases) and drops entries older than ``t - window``; with ``judge``,
        whether the window violates against the tick's mid (False without)."""
        entry = (t, mid, bid, ask)
        highs = self.highs
        lows = self.lows
        beaten = mid * _BELOW
        while highs and highs[-1][1] < beaten:
            highs.pop()
        highs.append(entry)
        beaten = mid * _ABOVE
        while lows and lows[-1][1] > beaten:
            lows.pop()
        lows.append(entry)
        cutoff = t - self.window_us
        while highs[0][0] < cutoff:
            highs.popleft()
        while lows[0][0] < cutoff:
            lows.popleft()
        if not judge:
            return False
        high = highs[0][1]
        low = lows[0][1]
        gap = (high - low) * 100.0 - self._threshold_f * mid
        tolerance = self._tolerance_f * (high + low + mid)
        if gap < -tolerance:
            return False
        if gap > tolerance:
            return True
        high_d, low_d = self.exact_extremes()
        return EXACT.multiply(EXACT.subtract(high_d, low_d), HUNDRED) > EXACT.multiply(
            self.threshold, mid_decimal(bid, ask)
        )

    def exact_extremes(self) -> tuple[Decimal, Decimal]:
        return max(mid_decimal(e[2], e[3]) for e in self.highs), min(mid_decimal(e[2], e[3]) for e in self.lows)

    def value(self, bid: float, ask: float) -> Decimal:
        """(high - low) / mid x 100 over the window, exactly, rounded to 12 places."""
        high_d, low_d = self.exact_extremes()
        return ratio(EXACT.subtract(high_d, low_d), mid_decimal(bid, ask), HUNDRED)

    def snapshot(self) -> list[Any]:
        return [self.machine_snapshot(), [list(e) for e in self.highs], [list(e) for e in self.lows]]

    def restore(self, state: list[Any]) -> None:
        machine, highs, lows = state
        self.machine_restore(machine)
        self.highs = deque((t, m, b, a) for t, m, b, a in highs)
        self.lows = deque((t, m, b, a) for t, m, b, a in lows)
