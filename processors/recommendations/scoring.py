"""The four scores (0..100, 50 neutral), the weighted total, the label, confidence, target and risk.

Each score is 50 + 50 x the mean of its components, each component a clamped linear signal in [-1, 1]
(the scale of each is in its line). Pure functions of numbers: the processor gathers the inputs known
at the cutoff and these turn them into a recommendation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from processors.recommendations.config import RecommendationsConfig


def clamp(x: float, low: float = -1.0, high: float = 1.0) -> float:
    return low if x < low else high if x > high else x


def score_of(components: list[float]) -> float | None:
    return None if not components else 50.0 + 50.0 * (sum(components) / len(components))


class Technical(NamedTuple):
    score: float | None
    components: dict[str, float]


def technical_score(close: float, values: list[float | None]) -> Technical:
    """Trend (close vs SMA 20, SMA 20 vs 50, SMA 50 vs 200) and momentum (RSI, MACD histogram over ATR),
    averaged; ``values`` as :class:`~processors.recommendations.state.TechnicalState` keeps them (adjusted
    units; ``close`` too)."""
    return Technical(*technical(close, values))


def technical(close: float, values: list[float | None]) -> tuple[float | None, dict[str, float]]:
    """:func:`technical_score` as a plain (score, components) tuple (per ticker and day: no NamedTuple)."""
    sma20, sma50, sma200, rsi, _macd, _signal, hist, atr, _up, _mid, _low = values
    # (runs per ticker and day: clamp is inlined; the means stay sum(list) / len(list))
    trend: list[float] = []
    if sma20:
        x = (close / sma20 - 1.0) / 0.05  # 5 % above SMA 20: fully bullish
        trend.append(-1.0 if x < -1.0 else 1.0 if x > 1.0 else x)
        if sma50:
            x = (sma20 / sma50 - 1.0) / 0.05
            trend.append(-1.0 if x < -1.0 else 1.0 if x > 1.0 else x)
    if sma50 and sma200:
        x = (sma50 / sma200 - 1.0) / 0.10
        trend.append(-1.0 if x < -1.0 else 1.0 if x > 1.0 else x)
    momentum: list[float] = []
    if rsi is not None:
        # overbought (> 70) leans to a pull-back, oversold (< 30) to a rebound; between, momentum
        x = (rsi - 50.0) / 25.0
        momentum.append(-0.5 if rsi > 70 else 0.5 if rsi < 30 else -1.0 if x < -1.0 else 1.0 if x > 1.0 else x)
    if hist is not None and atr:
        x = hist / (0.5 * atr)  # histogram of half an ATR: fully bullish
        momentum.append(-1.0 if x < -1.0 else 1.0 if x > 1.0 else x)
    parts: dict[str, float] = {}
    if trend:
        parts["trend"] = sum(trend) / len(trend)
    if momentum:
        parts["momentum"] = sum(momentum) / len(momentum)
    return score_of(list(parts.values())), parts


def fundamental_components(pe: float | None, pb: float | None, roe: float | None, debt_to_equity: float | None,
                           revenue_growth: float | None, profit_margin: float | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if pe is not None:
        out["pe"] = -1.0 if pe <= 0 else clamp((20.0 - pe) / 10.0)  # losses: -1; P/E 10: +1, 30: -1
    if pb is not None:
        out["pb"] = -1.0 if pb <= 0 else clamp((2.0 - pb) / 1.5)
    if roe is not None:
        out["roe"] = clamp((roe - 0.10) / 0.10)  # ROE 20 %: +1, 0 %: -1
    if debt_to_equity is not None:
        out["debt_to_equity"] = clamp(1.0 - debt_to_equity)  # 0: +1, 2: -1
    if revenue_growth is not None:
        out["revenue_growth"] = clamp(revenue_growth / 0.15)
    if profit_margin is not None:
        out["profit_margin"] = clamp((profit_margin - 0.05) / 0.10)
    return out


def macro_components(values: dict[str, float], market: str) -> dict[str, float]:
    """Argentine macro: monthly inflation, country risk, the official/parallel FX gap and the real
    policy rate. A wide FX gap hurts local shares and favours CEDEARs (priced at the implicit dollar)."""
    out: dict[str, float] = {}
    inflation = values.get("inflation_mom")
    if inflation is not None:
        out["inflation"] = clamp((3.0 - inflation) / 3.0)  # 0 %/month: +1, 6 %/month: -1
    risk = values.get("country_risk")
    if risk is not None:
        out["country_risk"] = clamp((1500.0 - risk) / 1000.0)  # 500 bp: +1, 2,500 bp: -1
    official, parallel = values.get("fx_official"), values.get("fx_parallel")
    if official and parallel:
        gap = parallel / official - 1.0
        signal = clamp((0.5 - gap) / 0.5)  # no gap: +1, 100 %: -1
        out["fx_gap"] = -signal if market == "CEDEAR" else signal
    rate = values.get("policy_rate")
    if rate is not None and inflation is not None:
        real = rate - ((1.0 + inflation / 100.0) ** 12 - 1.0) * 100.0  # % a year
        out["real_rate"] = clamp(real / 20.0)
    return out


def sentiment_score(score: float) -> float:
    return 50.0 + 50.0 * clamp(score)


class Decision(NamedTuple):
    label: str
    total: float
    confidence: float
    target: float
    risk: str


def decide(scores: dict[str, float | None], config: RecommendationsConfig, price: float, atr_pct: float | None,
           bb_width: float | None, has_long_trend: bool) -> Decision:
    """The weighted total over the available scores; confidence = coverage (weight of the scores present)
    x agreement (1 - their spread / 50, half weight) x 0.9 without a 200-day trend yet."""
    return Decision(*Decider(config)(scores["technical"], scores["fundamental"], scores["macro"], scores["sentiment"],
                                     price, atr_pct, bb_width, has_long_trend))


class Decider:
    """:func:`decide` with the config's constants read once (a run decides for every ticker of a shard), as a
    plain (label, total, confidence, target, risk) tuple."""

    __slots__ = ("weights", "total_weight", "buy_above", "sell_below", "horizon")

    def __init__(self, config: RecommendationsConfig):
        w = config.weights
        self.weights = (w.technical, w.fundamental, w.macro, w.sentiment)
        self.total_weight = w.total
        self.buy_above, self.sell_below = config.buy_above, config.sell_below
        self.horizon = math.sqrt(config.target_horizon_days)

    def __call__(self, technical: float | None, fundamental: float | None, macro: float | None,
                 sentiment: float | None, price: float, atr_pct: float | None, bb_width: float | None,
                 has_long_trend: bool) -> tuple[str, float, float, float, str]:
        # the sums in the scores' order, as a loop over them would add them (written out: per ticker and day)
        w_technical, w_fundamental, w_macro, w_sentiment = self.weights
        weight = 0.0
        weighted = 0.0
        plain = 0.0
        present: list[float] = []
        if technical is not None and w_technical > 0:
            weight += w_technical
            weighted += w_technical * technical
            plain += technical
            present.append(technical)
        if fundamental is not None and w_fundamental > 0:
            weight += w_fundamental
            weighted += w_fundamental * fundamental
            plain += fundamental
            present.append(fundamental)
        if macro is not None and w_macro > 0:
            weight += w_macro
            weighted += w_macro * macro
            plain += macro
            present.append(macro)
        if sentiment is not None and w_sentiment > 0:
            weight += w_sentiment
            weighted += w_sentiment * sentiment
            plain += sentiment
            present.append(sentiment)
        if not present:
            raise ValueError("no score")
        total = weighted / weight
        label = "BUY" if total >= self.buy_above else "SELL" if total <= self.sell_below else "HOLD"
        n = len(present)
        mean = plain / n
        spread = math.sqrt(sum([(v - mean) ** 2 for v in present]) / n)
        agreement = 1.0 - spread / 50.0
        agreement = 0.0 if agreement < 0.0 else 1.0 if agreement > 1.0 else agreement  # clamp(.., 0, 1)
        confidence = (100.0 * (weight / self.total_weight) * (0.5 + 0.5 * agreement)
                      * (1.0 if has_long_trend else 0.9))
        vol = atr_pct if atr_pct is not None else 0.03
        # the score's conviction times the volatility over the horizon, as a log move (a target stays > 0)
        expected = (total - 50.0) / 50.0 * vol * self.horizon
        target = price * math.exp(expected)
        swing = max(vol, (bb_width or 0.0) / 4.0)
        risk = "LOW" if swing < 0.02 else "MEDIUM" if swing < 0.04 else "HIGH"
        return label, total, confidence, target, risk
