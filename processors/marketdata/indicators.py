"""Streaming technical indicators on closed bars, computed as TA-Lib computes them.

O(1) work per bar and bounded state. The formulas follow TA-Lib's C code (its default, non-Metastock
compatibility, no unstable period), so values equal ``talib``'s on the same bars:

* SMA(n): mean of the last n closes. The running window sum is re-added exactly (``math.fsum``)
  every n bars, so float drift never builds up (amortized O(1)).
* EMA(n): seeded with the SMA of the first n closes, then ``ema += (close - ema) * 2/(n+1)``.
* RSI(n): Wilder smoothing seeded with the plain averages of the first n gains and losses; 0 when
  both averages are zero (a flat series).
* MACD(fast, slow, signal): both EMAs start at the slow period's first bar — the fast one seeded with
  the SMA of the fast period ending there (TA-Lib's alignment, not a fast EMA started earlier) — and
  the signal is an EMA of the MACD line seeded with the SMA of its first ``signal`` values. MACD,
  signal and histogram all appear at bar ``slow + signal - 1``.
* Bollinger Bands(n, k): SMA ± k population standard deviations; the variance comes from running
  sums of (close − shift) and its square, shifted by a recent close to avoid cancellation, re-added
  exactly every n bars; a variance that rounds to zero or below gives a zero deviation.
* ATR(n): true range needs the previous close; seeded with the SMA of the first n true ranges, then
  ``atr = (atr * (n-1) + tr) / n``.

Checked against the ``ta-lib`` package (TA-Lib C 0.8): relative differences stay below 1e-14.
A value is None until its warm-up is complete. Indicators run on the sequence of closed bars of one
interval: an interval with no ticks (a gap) has no bar and is simply not in the sequence.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from processors.marketdata.config import MarketDataConfig


def _ema_factor(period: int) -> float:
    return 2.0 / (period + 1)


class SimpleMovingAverage:
    __slots__ = ("period", "window", "total", "since_exact")

    def __init__(self, period: int):
        self.period = period
        self.window: deque[float] = deque(maxlen=period)
        self.total = 0.0
        self.since_exact = 0

    def update(self, x: float) -> float | None:
        # (per bar of every instrument: the fields are read and written once; the same operations in the
        # same order as "total -= oldest; total += x")
        window = self.window
        period = self.period
        total = self.total
        full = len(window) == period
        if full:
            total -= window[0]
        window.append(x)
        total += x
        since = self.since_exact + 1
        if since >= period:
            total = math.fsum(window)
            since = 0
        self.total = total
        self.since_exact = since
        if full or len(window) == period:
            return total / period
        return None

    def snapshot(self) -> list[Any]:
        return [list(self.window), self.total, self.since_exact]

    def restore(self, state: list[Any]) -> None:
        window, self.total, self.since_exact = state
        self.window = deque(window, maxlen=self.period)


class ExponentialMovingAverage:
    __slots__ = ("period", "k", "count", "seed_total", "value")

    def __init__(self, period: int):
        self.period = period
        self.k = _ema_factor(period)
        self.count = 0
        self.seed_total = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        value = self.value
        if value is None:
            self.seed_total += x
            self.count += 1
            if self.count == self.period:
                self.value = self.seed_total / self.period
            return self.value
        value = ((x - value) * self.k) + value
        self.value = value
        return value

    def snapshot(self) -> list[Any]:
        return [self.count, self.seed_total, self.value]

    def restore(self, state: list[Any]) -> None:
        self.count, self.seed_total, self.value = state


class RelativeStrengthIndex:
    __slots__ = ("period", "prev_close", "count", "avg_gain", "avg_loss", "ready")

    def __init__(self, period: int):
        self.period = period
        self.prev_close: float | None = None
        self.count = 0
        self.avg_gain = 0.0
        self.avg_loss = 0.0
        self.ready = False

    def update(self, x: float) -> float | None:
        prev = self.prev_close
        self.prev_close = x
        if prev is None:
            return None
        change = x - prev
        period = self.period
        if not self.ready:
            if change < 0:
                self.avg_loss -= change
            else:
                self.avg_gain += change
            self.count += 1
            if self.count < period:
                return None
            self.avg_loss /= period
            self.avg_gain /= period
            self.ready = True
        else:
            loss = self.avg_loss * (period - 1)
            gain = self.avg_gain * (period - 1)
            if change < 0:
                loss -= change
            else:
                gain += change
            self.avg_loss = loss / period
            self.avg_gain = gain / period
        total = self.avg_gain + self.avg_loss
        if total == 0.0:
            return 0.0
        return 100.0 * (self.avg_gain / total)

    def snapshot(self) -> list[Any]:
        return [self.prev_close, self.count, self.avg_gain, self.avg_loss, self.ready]

    def restore(self, state: list[Any]) -> None:
        self.prev_close, self.count, self.avg_gain, self.avg_loss, self.ready = state


class MovingAverageConvergenceDivergence:
    __slots__ = ("fast", "slow", "signal", "k_fast", "k_slow", "k_signal", "warmup_closes",
                 "fast_ema", "slow_ema", "signal_count", "signal_total", "signal_value")

    def __init__(self, fast: int, slow: int, signal: int):
        self.fast, self.slow, self.signal = fast, slow, signal
        self.k_fast, self.k_slow, self.k_signal = _ema_factor(fast), _ema_factor(slow), _ema_factor(signal)
        self.warmup_closes: list[float] = []
        self.fast_ema: float | None = None
        self.slow_ema: float | None = None
        self.signal_count = 0
        self.signal_total = 0.0
        self.signal_value: float | None = None

    def update(self, x: float) -> tuple[float, float, float] | None:
        fast_ema, slow_ema = self.fast_ema, self.slow_ema
        if slow_ema is None or fast_ema is None:
            closes = self.warmup_closes
            closes.append(x)
            if len(closes) < self.slow:
                return None
            slow_total = 0.0
            for c in closes:
                slow_total += c
            fast_total = 0.0
            for c in closes[self.slow - self.fast:]:
                fast_total += c
            fast_ema, slow_ema = fast_total / self.fast, slow_total / self.slow
            self.warmup_closes = []
        else:
            fast_ema = ((x - fast_ema) * self.k_fast) + fast_ema
            slow_ema = ((x - slow_ema) * self.k_slow) + slow_ema
        self.fast_ema, self.slow_ema = fast_ema, slow_ema
        macd = fast_ema - slow_ema
        signal = self.signal_value
        if signal is None:
            self.signal_total += macd
            self.signal_count += 1
            if self.signal_count < self.signal:
                return None
            signal = self.signal_total / self.signal
        else:
            signal = ((macd - signal) * self.k_signal) + signal
        self.signal_value = signal
        return macd, signal, macd - signal

    def snapshot(self) -> list[Any]:
        return [list(self.warmup_closes), self.fast_ema, self.slow_ema, self.signal_count, self.signal_total,
                self.signal_value]

    def restore(self, state: list[Any]) -> None:
        closes, self.fast_ema, self.slow_ema, self.signal_count, self.signal_total, self.signal_value = state
        self.warmup_closes = list(closes)


class BollingerBands:
    __slots__ = ("period", "deviations", "window", "shift", "total", "total_sq", "since_exact")

    def __init__(self, period: int, deviations: float):
        self.period = period
        self.deviations = deviations
        self.window: deque[float] = deque(maxlen=period)
        self.shift: float | None = None
        self.total = 0.0  # sum of (x - shift)
        self.total_sq = 0.0  # sum of (x - shift)²
        self.since_exact = 0

    def update(self, x: float) -> tuple[float, float, float] | None:
        # (the fields read and written once per bar; the same operations in the same order)
        window = self.window
        period = self.period
        shift = self.shift
        if shift is None:
            self.shift = shift = x
        total, total_sq = self.total, self.total_sq
        if len(window) == period:
            old = window[0] - shift
            total -= old
            total_sq -= old * old
        window.append(x)
        d = x - shift
        total += d
        total_sq += d * d
        since = self.since_exact + 1
        if since >= period:
            self.shift = shift = x
            total = math.fsum(v - shift for v in window)
            total_sq = math.fsum((v - shift) * (v - shift) for v in window)
            since = 0
        self.total, self.total_sq, self.since_exact = total, total_sq, since
        if len(window) < period:
            return None
        mean_shifted = total / period
        variance = total_sq / period - mean_shifted * mean_shifted
        deviation = math.sqrt(variance) * self.deviations if variance > 0.0 else 0.0
        middle = shift + mean_shifted
        return middle + deviation, middle, middle - deviation

    def snapshot(self) -> list[Any]:
        return [list(self.window), self.shift, self.total, self.total_sq, self.since_exact]

    def restore(self, state: list[Any]) -> None:
        window, self.shift, self.total, self.total_sq, self.since_exact = state
        self.window = deque(window, maxlen=self.period)


class AverageTrueRange:
    __slots__ = ("period", "prev_close", "count", "seed_total", "value")

    def __init__(self, period: int):
        self.period = period
        self.prev_close: float | None = None
        self.count = 0
        self.seed_total = 0.0
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self.prev_close
        self.prev_close = close
        if prev is None:
            return None
        true_range = high - low
        up = abs(prev - high)
        if up > true_range:
            true_range = up
        down = abs(prev - low)
        if down > true_range:
            true_range = down
        value = self.value
        if value is None:
            self.seed_total += true_range
            self.count += 1
            if self.count == self.period:
                self.value = self.seed_total / self.period
            return self.value
        value = value * (self.period - 1)
        value += true_range
        value /= self.period
        self.value = value
        return value

    def snapshot(self) -> list[Any]:
        return [self.prev_close, self.count, self.seed_total, self.value]

    def restore(self, state: list[Any]) -> None:
        self.prev_close, self.count, self.seed_total, self.value = state


IndicatorValues = tuple[float | None, ...]  # sma, ema, rsi, macd, signal, hist, bb upper, middle, lower, atr


class Indicators:
    """Every indicator of one bar interval of one key."""

    __slots__ = ("sma", "ema", "rsi", "macd", "bands", "atr")

    def __init__(self, config: MarketDataConfig):
        self.sma = SimpleMovingAverage(config.sma_period)
        self.ema = ExponentialMovingAverage(config.ema_period)
        self.rsi = RelativeStrengthIndex(config.rsi_period)
        self.macd = MovingAverageConvergenceDivergence(config.macd_fast, config.macd_slow, config.macd_signal)
        self.bands = BollingerBands(config.bb_period, config.bb_stdev)
        self.atr = AverageTrueRange(config.atr_period)

    def on_bar(self, high: float, low: float, close: float) -> IndicatorValues:
        macd = self.macd.update(close) or (None, None, None)
        bands = self.bands.update(close) or (None, None, None)
        return (
            self.sma.update(close),
            self.ema.update(close),
            self.rsi.update(close),
            *macd,
            *bands,
            self.atr.update(high, low, close),
        )

    def snapshot(self) -> dict[str, Any]:
        return {name: getattr(self, name).snapshot() for name in self.__slots__}

    def restore(self, state: dict[str, Any]) -> None:
        for name in self.__slots__:
            getattr(self, name).restore(state[name])
