"""Streaming indicators equal TA-Lib's (the ``ta-lib`` package is the oracle), warm-up included."""

from __future__ import annotations

import json
import random

import numpy as np
import talib  # the oracle (the ``ta-lib`` package, in the ``test`` extra)

from processors.marketdata import MarketDataConfig
from processors.marketdata.indicators import Indicators
from tests.support.marketdata import SECOND, Harness, at

FIELDS = ("sma", "ema", "rsi", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower", "atr")


def random_walk_bars(n: int, seed: int, level: float = 4000.0, step: float = 3.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = level + np.cumsum(rng.normal(0.0, step, n))
    high = close + rng.uniform(0.0, step, n)
    low = close - rng.uniform(0.0, step, n)
    return high, low, close


def talib_columns(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[str, np.ndarray]:
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    return {
        "sma": talib.SMA(close, 20), "ema": talib.EMA(close, 20), "rsi": talib.RSI(close, 14),
        "macd": macd, "macd_signal": signal, "macd_hist": hist,
        "bb_upper": upper, "bb_middle": middle, "bb_lower": lower, "atr": talib.ATR(high, low, close, 14),
    }


def assert_matches_talib(rows: list[dict[str, float | None]], expected: dict[str, np.ndarray]) -> None:
    for name in FIELDS:
        ours = [row[name] for row in rows]
        ref = expected[name]
        assert [v is None for v in ours] == list(np.isnan(ref)), f"{name}: warm-up differs from TA-Lib"
        for i, (value, oracle) in enumerate(zip(ours, ref, strict=True)):
            if value is not None:
                assert abs(value - oracle) <= 1e-9 * abs(oracle) + 1e-12, f"{name}[{i}]: {value} != {oracle}"


def feed(indicators: Indicators, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> list[dict]:
    rows = []
    for hi, lo, c in zip(high, low, close, strict=True):
        rows.append(dict(zip(FIELDS, indicators.on_bar(float(hi), float(lo), float(c)), strict=True)))
    return rows


def test_indicators_equal_talib_on_a_random_walk_with_talib_warm_up():
    high, low, close = random_walk_bars(400, seed=7)
    rows = feed(Indicators(MarketDataConfig()), high, low, close)
    assert_matches_talib(rows, talib_columns(high, low, close))
    first = {name: next(i for i, row in enumerate(rows) if row[name] is not None) for name in FIELDS}
    assert first == {"sma": 19, "ema": 19, "rsi": 14, "macd": 33, "macd_signal": 33, "macd_hist": 33,
                     "bb_upper": 19, "bb_middle": 19, "bb_lower": 19, "atr": 14}


def test_running_sums_do_not_drift_over_a_long_series():
    high, low, close = random_walk_bars(20_000, seed=3, level=65_000.0, step=150.0)
    rows = feed(Indicators(MarketDataConfig()), high, low, close)
    assert_matches_talib(rows[-500:], {k: v[-500:] for k, v in talib_columns(high, low, close).items()})


def test_flat_and_nearly_flat_series_match_talib():
    close = np.array([4123.37] * 40 + [4123.37 + 1e-9] * 10 + [4123.38, 4123.37] * 10)
    rows = feed(Indicators(MarketDataConfig()), close, close, close)
    assert_matches_talib(rows, talib_columns(close, close, close))
    assert rows[39]["rsi"] == 0.0 and rows[39]["bb_upper"] == rows[39]["bb_middle"] == 4123.37


def test_snapshot_and_restore_mid_warm_up_continue_identically():
    high, low, close = random_walk_bars(120, seed=9)
    straight = feed(Indicators(MarketDataConfig()), high, low, close)
    for cut in (5, 16, 25, 30, 60):
        first = Indicators(MarketDataConfig())
        head = feed(first, high[:cut], low[:cut], close[:cut])
        second = Indicators(MarketDataConfig())
        second.restore(json.loads(json.dumps(first.snapshot())))
        assert head + feed(second, high[cut:], low[cut:], close[cut:]) == straight


def test_processor_indicator_sets_equal_talib_on_its_own_bars():
    rng = random.Random(21)
    h = Harness("binance:BTC/USDT")
    t = at("2026-03-02 00:00:00")
    price = 65_000.0
    while t < at("2026-03-02 06:00:00"):  # 360 one-minute bars, 72 five-minute bars
        t += rng.randrange(SECOND // 2, 4 * SECOND)
        price *= 1.0 + rng.gauss(0.0, 0.0004)
        h.tick(t, round(price, 2), volume=0.01)
    h.heartbeat(t + 10 * SECOND)
    for interval_s in (60, 300):
        bars = h.bars(interval_s)
        sets = h.records("IndicatorSet", interval_s)
        assert [s["bar_event_id"] for s in sets] == [x["event_id"] for x in bars]
        assert [s["close"] for s in sets] == [x["close"] for x in bars]
        high, low, close = (np.array([x[k] for x in bars]) for k in ("high", "low", "close"))
        assert_matches_talib(sets, talib_columns(high, low, close))
    assert len(h.bars(60)) == 360
    assert h.records("IndicatorSet", 60)[-1]["macd"] is not None
