"""One ticker's incremental state: the market-data pipeline's streaming indicators fed with adjusted
daily bars, the latest inputs of the other analyses, and what was excluded since the last run.

Adjustments: prices are fed to the indicators in the units of the ticker's first bar. A bar with a
split (``split_ratio`` r: r new shares per old one) or a dividend d multiplies the running factor by
``r * p / (p - d)`` (p: the previous close in post-split units), the total-return adjustment; so the
indicators never need their past values rewritten, and every ratio they give (close / SMA, RSI, MACD /
ATR, Bollinger width) is the one of a back-adjusted series. Prices shown (current, target) are the bar's own.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from processors.core import Record
from processors.marketdata.indicators import (
    AverageTrueRange,
    BollingerBands,
    MovingAverageConvergenceDivergence,
    RelativeStrengthIndex,
    SimpleMovingAverage,
)
from processors.recommendations.config import RecommendationsConfig

_INF = math.inf


def chain(previous: str, event_id: str) -> str:
    """The running hash of the bars folded so far (16 hex chars)."""
    return hashlib.sha256(f"{previous}|{event_id}".encode()).hexdigest()[:16]


class TechnicalState:
    """SMA 20/50/200, RSI 14, MACD 12/26/9, ATR 14 and Bollinger 20/2 on adjusted closes (reused from
    :mod:`processors.marketdata.indicators`, equal to TA-Lib's)."""

    __slots__ = ("sma20", "sma50", "sma200", "rsi", "macd", "atr", "bands", "values")

    def __init__(self) -> None:
        self.sma20 = SimpleMovingAverage(20)
        self.sma50 = SimpleMovingAverage(50)
        self.sma200 = SimpleMovingAverage(200)
        self.rsi = RelativeStrengthIndex(14)
        self.macd = MovingAverageConvergenceDivergence(12, 26, 9)
        self.atr = AverageTrueRange(14)
        self.bands = BollingerBands(20, 2.0)
        # the latest values: sma20, sma50, sma200, rsi, macd, signal, hist, atr, bb upper, middle, lower
        self.values: list[float | None] = [None] * 11

    def update(self, high: float, low: float, close: float) -> None:
        macd = self.macd.update(close) or (None, None, None)
        bands = self.bands.update(close) or (None, None, None)
        self.values = [self.sma20.update(close), self.sma50.update(close), self.sma200.update(close),
                       self.rsi.update(close), *macd, self.atr.update(high, low, close), *bands]

    _PARTS = ("sma20", "sma50", "sma200", "rsi", "macd", "atr", "bands")

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name).snapshot() for name in self._PARTS}
        out["values"] = list(self.values)
        return out

    def restore(self, state: dict[str, Any]) -> None:
        for name in self._PARTS:
            getattr(self, name).restore(state[name])
        self.values = list(state["values"])


class TickerState:
    """Everything one ticker's recommendation needs, bounded: no bar history is kept."""

    def __init__(self, ticker: str, config: RecommendationsConfig):
        self.ticker = ticker
        self.config = config
        self.market = "BYMA"
        self.bars = 0
        self.last_date: str | None = None
        self.last_time: int | None = None  # event time of the last folded bar
        self.last_close: float | None = None  # the bar's own close
        self.last_adjusted: float | None = None  # in the units of the first bar
        self.factor = 1.0
        self.bar_hash = ""
        self.technical = TechnicalState()
        self.fundamentals: list[Record] = []  # snapshots not superseded yet (some may be after the cutoff)
        self.sentiment: list[Record] = []  # the latest ones, by event time (at most 2)
        self.issues: list[str] = []  # inputs excluded since the last run, with the reason
        # the analysis details last built from a fundamental snapshot / sentiment score (the processor's
        # memo, not state: rebuilt from the same event after a restore)
        self.fund_memo: tuple[Any, ...] | None = None
        self.sent_memo: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ inputs
    def issue(self, text: str) -> None:
        if len(self.issues) < self.config.max_issues:
            self.issues.append(text)

    def on_bar(self, bar: Record) -> str | None:
        """Folds a daily bar in; returns why it was excluded (also kept in ``issues``), or None."""
        day = bar["date"]
        why = self._bad_bar(bar)
        if why is None and self.last_date is not None and day <= self.last_date:
            why = (f"duplicate-day: {day} already folded" if day == self.last_date
                   else f"out-of-order: {day} after {self.last_date}")
        factor = self.factor
        if why is None and self.last_close is not None:
            ratio, dividend = bar["split_ratio"], bar["dividend"]
            previous = self.last_close / ratio  # the previous close in this bar's (post-split) units
            if dividend >= previous:
                why = f"bad-dividend: {dividend:g} >= previous close {previous:g} on {day}"
            else:
                factor = factor * ratio * previous / (previous - dividend)
                move = bar["close"] * factor / self.last_adjusted
                bound = 1.0 + self.config.max_daily_move
                if move > bound or move < 1.0 / bound:
                    why = (f"unadjusted-split: {day} close {bar['close']:g} is {move:.3f}x the previous adjusted "
                           f"close (bound {bound:g}x; split_ratio {ratio:g})")
        if why is not None:
            self.issue(f"{bar['event_id']}: {why}")
            return why
        self.market = bar["market"]
        self.factor = factor
        self.technical.update(bar["high"] * factor, bar["low"] * factor, bar["close"] * factor)
        self.bars += 1
        self.last_date, self.last_time = day, bar["event_time"]
        self.last_close, self.last_adjusted = bar["close"], bar["close"] * factor
        self.bar_hash = chain(self.bar_hash, bar["event_id"])
        return None

    @staticmethod
    def _bad_bar(bar: Record) -> str | None:
        o, h, lo, c = bar["open"], bar["high"], bar["low"], bar["close"]
        if (type(o) is float and type(h) is float and type(lo) is float and type(c) is float  # the usual bar
                and 0.0 < o < _INF and 0.0 < lo <= h < _INF and 0.0 < c < _INF):
            ratio, dividend = bar["split_ratio"], bar["dividend"]
            if 0.0 < ratio < _INF and 0.0 <= dividend < _INF:
                return None
        return TickerState._bad_bar_reason(bar)

    @staticmethod
    def _bad_bar_reason(bar: Record) -> str | None:
        for name in ("open", "high", "low", "close"):
            v = bar[name]
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                return f"bad-price: {name} {v!r} is not a finite number > 0"
        if bar["low"] > bar["high"]:
            return f"bad-price: low {bar['low']:g} > high {bar['high']:g}"
        ratio, dividend = bar["split_ratio"], bar["dividend"]
        if not (math.isfinite(ratio) and ratio > 0):
            return f"bad-split: split_ratio {ratio!r}"
        if not (math.isfinite(dividend) and dividend >= 0):
            return f"bad-dividend: {dividend!r}"
        return None

    def on_fundamentals(self, snap: Record) -> str | None:
        if snap["available_at"] < snap["period_end"]:
            why = "fundamentals-before-period-end: available_at before period_end"
            self.issue(f"{snap['event_id']}: {why}")
            return why
        self.fundamentals.append(snap)
        self.fundamentals.sort(key=lambda s: (s["available_at"], s["period_end"], s["event_id"]))
        return None

    def on_sentiment(self, score: Record) -> None:
        if not math.isfinite(score["score"]):
            self.issue(f"{score['event_id']}: bad-sentiment: {score['score']!r}")
            return
        self.sentiment.append(score)
        self.sentiment.sort(key=lambda s: (s["event_time"], s["event_id"]))

    # ------------------------------------------------------------------ a run
    def fundamentals_at(self, cutoff: int) -> tuple[Record | None, list[Record]]:
        """The snapshot of the latest period known at the cutoff, and those not available yet. Older
        known snapshots are dropped: they are superseded for every later run too."""
        fundamentals = self.fundamentals
        if len(fundamentals) == 1 and fundamentals[0]["available_at"] <= cutoff:  # the usual case
            return fundamentals[0], []
        known = [s for s in fundamentals if s["available_at"] <= cutoff]
        later = [s for s in self.fundamentals if s["available_at"] > cutoff]
        best = max(known, key=lambda s: (s["period_end"], s["available_at"], s["event_id"]), default=None)
        self.fundamentals = ([best] if best is not None else []) + later
        return best, later

    def sentiment_at(self, cutoff: int) -> Record | None:
        sentiment = self.sentiment  # in (event time, id) order
        if sentiment and sentiment[-1]["event_time"] <= cutoff:  # the usual case: all known, the last one wins
            if len(sentiment) > 1:
                self.sentiment = sentiment[-1:]
            return sentiment[-1]
        known = [s for s in self.sentiment if s["event_time"] <= cutoff]
        self.sentiment = known[-1:] + [s for s in self.sentiment if s["event_time"] > cutoff]
        return known[-1] if known else None

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "market": self.market, "bars": self.bars, "last_date": self.last_date, "last_time": self.last_time,
            "last_close": self.last_close, "last_adjusted": self.last_adjusted, "factor": self.factor,
            "bar_hash": self.bar_hash, "technical": self.technical.snapshot(),
            "fundamentals": self.fundamentals, "sentiment": self.sentiment, "issues": self.issues,
        }

    @classmethod
    def restore(cls, ticker: str, state: dict[str, Any], config: RecommendationsConfig) -> TickerState:
        s = cls(ticker, config)
        for name in ("market", "bars", "last_date", "last_time", "last_close", "last_adjusted", "factor",
                     "bar_hash"):
            setattr(s, name, state[name])
        s.technical.restore(state["technical"])
        s.fundamentals = list(state["fundamentals"])
        s.sentiment = list(state["sentiment"])
        s.issues = list(state["issues"])
        return s
