"""The recommendations job: scores with exact values, bad input, splits, point in time, the generator."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from processors import topics
from processors.recommendations import InProcessRecommendations, RecommendationsConfig, scoring
from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.state import TickerState
from streams.generator.recommendations import HistoryConfig, generate_history, job_request
from tests.support.recommendations import bar, events_of, recommendations, run

CFG = RecommendationsConfig(shards=4)
CAL = TradingCalendar(CFG)
DAYS = CAL.trading_days(date(2024, 1, 2), date(2024, 12, 31))


def series(ticker: str, closes: list[float], days: list[date] = DAYS, **kw: object) -> list[tuple[str, str, dict]]:
    return [(topics.DAILY_BARS, "DailyBar", bar(ticker, d, c, **kw)) for d, c in zip(days, closes, strict=False)]


def job(day: date) -> tuple[str, str, dict]:
    return (topics.JOB_REQUESTS, "JobRequested", job_request(day, CFG))


def wave(n: int, start: float = 100.0) -> list[float]:
    return [start * (1.0 + 0.2 * math.sin(i / 7.0) + 0.002 * i) for i in range(n)]


# ---------------------------------------------------------------------------------------------- scores
def test_technical_score_exact() -> None:
    # trend: close 5 % above SMA 20 -> +1, SMA 20 = SMA 50 -> 0, no SMA 200: 0.5
    # momentum: RSI 60 -> (60 - 50) / 25 = 0.4, histogram 1 over half an ATR of 4 -> 0.5: 0.45
    tech = scoring.technical_score(105.0, [100.0, 100.0, None, 60.0, 2.0, 1.0, 1.0, 4.0, None, None, None])
    assert tech.components == {"trend": 0.5, "momentum": 0.45}
    assert tech.score == 50 + 50 * (0.5 + 0.45) / 2 == 73.75
    # overbought and oversold
    assert scoring.technical_score(100.0, [None, None, None, 75.0] + [None] * 7).score == 25.0
    assert scoring.technical_score(100.0, [None, None, None, 25.0] + [None] * 7).score == 75.0
    assert scoring.technical_score(100.0, [None] * 11).score is None


def test_fundamental_and_macro_components_exact() -> None:
    parts = scoring.fundamental_components(10.0, 2.0, 0.15, 0.5, 0.03, 0.10)
    assert parts == pytest.approx({"pe": 1.0, "pb": 0.0, "roe": 0.5, "debt_to_equity": 0.5, "revenue_growth": 0.2,
                                   "profit_margin": 0.5}, rel=1e-12)
    assert scoring.fundamental_components(-3.0, None, None, None, None, None) == {"pe": -1.0}  # losses
    macro = {"inflation_mom": 1.5, "country_risk": 1000.0, "fx_official": 100.0, "fx_parallel": 125.0,
             "policy_rate": 40.0}
    # real rate: 40 - (1.015^12 - 1) x 100 = 20.44 % -> clamped to +1
    assert scoring.macro_components(macro, "BYMA") == {"inflation": 0.5, "country_risk": 0.5, "fx_gap": 0.5,
                                                       "real_rate": 1.0}
    assert scoring.macro_components(macro, "CEDEAR")["fx_gap"] == -0.5  # a wide gap favours CEDEARs


def test_decision_exact_and_missing_inputs_lower_confidence() -> None:
    scores = {"technical": 73.75, "fundamental": None, "macro": 40.0, "sentiment": 60.0}
    d = scoring.decide(scores, CFG, 210.0, 0.02, 0.1, False)
    assert d.total == pytest.approx((0.4 * 73.75 + 0.15 * 40 + 0.15 * 60) / 0.7, rel=1e-12)  # 63.571
    assert d.label == "BUY"
    mean = (73.75 + 40 + 60) / 3
    spread = math.sqrt(((73.75 - mean) ** 2 + (40 - mean) ** 2 + (60 - mean) ** 2) / 3)
    assert d.confidence == pytest.approx(100 * 0.7 * (0.5 + 0.5 * (1 - spread / 50)) * 0.9, rel=1e-12)
    assert d.target == pytest.approx(210 * math.exp((d.total - 50) / 50 * 0.02 * math.sqrt(20)), rel=1e-12)
    assert d.risk == "MEDIUM"  # max(ATR 2 %, Bollinger width 10 % / 4) = 2.5 %
    full = scoring.decide({**scores, "fundamental": 70.0}, CFG, 210.0, 0.02, 0.1, False)
    assert full.confidence > d.confidence
    only = scoring.decide({"technical": 73.75, "fundamental": None, "macro": None, "sentiment": None}, CFG, 210.0,
                          0.02, 0.1, False)
    assert only.confidence == pytest.approx(100 * 0.4 * 1.0 * 0.9, rel=1e-12)
    assert only.confidence < d.confidence


@pytest.mark.parametrize(("total", "label"), [(60.0, "BUY"), (59.99, "HOLD"), (40.01, "HOLD"), (40.0, "SELL")])
def test_thresholds(total: float, label: str) -> None:
    d = scoring.decide({"technical": total, "fundamental": None, "macro": None, "sentiment": None}, CFG, 1.0,
                       0.01, None, True)
    assert d.label == label
    assert d.risk == "LOW"


# ---------------------------------------------------------------------------------------------- the job
def test_indicators_are_the_market_data_ones_over_the_adjusted_series() -> None:
    closes = wave(120)
    split_at = 70  # a 2-for-1 split: the bar's prices halve and say so
    events = [(t, s, {**r, "close": r["close"] / 2, "open": r["open"] / 2, "high": r["high"] / 2,
                      "low": r["low"] / 2, "split_ratio": 2.0 if i == split_at else 1.0}) if i >= split_at else
              (t, s, r) for i, (t, s, r) in enumerate(series("GGAL", closes))]
    state = TickerState("GGAL", CFG)
    for _t, _s, r in events:
        assert state.on_bar(r) is None
    c = np.array(closes)
    h, lo = c * 1.01, c * 0.99
    sma20, sma50, sma200, rsi, macd, signal, hist, atr, up, mid, low = state.technical.values
    assert sma200 is None
    assert sma20 == pytest.approx(talib.SMA(c, 20)[-1], rel=1e-12)
    assert sma50 == pytest.approx(talib.SMA(c, 50)[-1], rel=1e-12)
    assert rsi == pytest.approx(talib.RSI(c, 14)[-1], rel=1e-12)
    m, sg, hs = talib.MACD(c, 12, 26, 9)
    assert (macd, signal, hist) == pytest.approx((m[-1], sg[-1], hs[-1]), rel=1e-9)
    assert atr == pytest.approx(talib.ATR(h, lo, c, 14)[-1], rel=1e-12)
    u, md, lw = talib.BBANDS(c, 20, 2.0, 2.0)
    assert (up, mid, low) == pytest.approx((u[-1], md[-1], lw[-1]), rel=1e-12)
    assert state.last_close == closes[-1] / 2 and state.factor == 2.0


def test_a_split_changes_the_prices_shown_not_the_scores() -> None:
    n = 60
    plain = series("YPFD", wave(n)) + [job(DAYS[n])]
    split = [(t, s, {**r, **({k: r[k] / 5 for k in ("open", "high", "low", "close")}),
                     "split_ratio": 5.0 if i == 40 else 1.0}) if i >= 40 else (t, s, r)
             for i, (t, s, r) in enumerate(series("YPFD", wave(n)))] + [job(DAYS[n])]
    a = recommendations(run(plain, CFG))[(DAYS[n].isoformat(), "YPFD")]
    b = recommendations(run(split, CFG))[(DAYS[n].isoformat(), "YPFD")]
    for field in ("recommendation", "total_score", "confidence", "technical_score", "risk_level"):
        assert a[field] == b[field], field
    assert b["current_price"] == pytest.approx(a["current_price"] / 5, rel=1e-12)
    assert b["target_price"] == pytest.approx(a["target_price"] / 5, rel=1e-6)
    assert b["data_issues"] == []


def test_bad_bars_are_excluded_with_their_reason() -> None:
    n = 40
    good = series("BMA", wave(n))
    bad = [
        bar("BMA", DAYS[10], 100.0, event_id="dup"),  # after day 20: out of order
        bar("BMA", DAYS[20], 100.0, event_id="again"),  # day 20 again
        {**bar("BMA", DAYS[21], 100.0, event_id="nan"), "close": float("nan")},
        bar("BMA", DAYS[21], -4.0, event_id="neg"),
        bar("BMA", DAYS[21], good[20][2]["close"] / 2, event_id="halved"),  # a 2:1 split without split_ratio
    ]
    events = good[:21] + [(topics.DAILY_BARS, "DailyBar", b) for b in bad] + good[21:n] + [job(DAYS[n])]
    out = run(events, CFG)
    reco = recommendations(out)[(DAYS[n].isoformat(), "BMA")]
    issues = reco["data_issues"]
    assert [i.split(":")[0] for i in issues] == ["dup", "again", "nan", "neg", "halved"]
    assert "out-of-order" in issues[0] and "duplicate-day" in issues[1] and "bad-price" in issues[2]
    assert "bad-price" in issues[3] and "unadjusted-split" in issues[4]
    # the clean series gives the same recommendation, without the issues
    clean = recommendations(run(good[:n] + [job(DAYS[n])], CFG))[(DAYS[n].isoformat(), "BMA")]
    assert {k: v for k, v in reco.items() if k != "data_issues"} == {
        k: v for k, v in clean.items() if k != "data_issues"}
    # issues are reported once: the next run has none
    later = run(events + series("BMA", [wave(n + 1)[-1]], [DAYS[n]]) + [job(DAYS[n + 1])], CFG)
    assert recommendations(later)[(DAYS[n + 1].isoformat(), "BMA")]["data_issues"] == []


def test_a_failing_ticker_never_fails_the_job() -> None:
    events = series("GGAL", wave(40)) + series("NEW", wave(5), DAYS[35:40]) + [job(DAYS[40])]
    events.sort(key=lambda e: e[2]["event_time"])
    out = run(events, RecommendationsConfig(shards=1))
    runs = [e.record for e in out if e.schema == "JobRun"]
    assert len(runs) == 1 and runs[0]["status"] == "COMPLETED"
    assert runs[0]["tickers_processed"] == 1 and runs[0]["errors_count"] == 1
    assert runs[0]["errors"] == [{"ticker": "NEW", "reason": "insufficient-history", "message": "5 bars, 26 needed"}]
    # a shard whose every ticker fails reports FAILED, with the reasons
    only = run(series("NEW", wave(5)) + [job(DAYS[40])], RecommendationsConfig(shards=1))
    failed = [e.record for e in only if e.schema == "JobRun"][0]
    assert failed["status"] == "FAILED" and failed["errors"][0]["reason"] == "stale-bars"


def test_fundamentals_after_the_cutoff_wait_and_count_once_available() -> None:
    n = 40
    period_end = CAL.close_us(DAYS[0])
    later = CAL.close_us(DAYS[n]) + 3_600_000_000  # available after the cutoff of DAYS[n]
    fund = {"event_id": "fund:GGAL:q", "event_time": later, "ticker": "GGAL", "period_end": period_end,
            "available_at": later, "pe": 8.0, "pb": 1.0, "roe": 0.2, "debt_to_equity": 0.3, "revenue_growth": 0.1,
            "profit_margin": 0.15}
    bars = series("GGAL", wave(n + 2))
    # fed before the job (a vendor's early file): the run for DAYS[n] still must not use it
    events = bars[:n] + [(topics.FUNDAMENTALS, "FundamentalSnapshot", fund), job(DAYS[n])] + bars[n:n + 1] + [
        job(DAYS[n + 1])]
    recos = recommendations(run(events, CFG))
    before = recos[(DAYS[n].isoformat(), "GGAL")]
    after = recos[(DAYS[n + 1].isoformat(), "GGAL")]
    assert before["fundamental_score"] is None
    meta = json.loads(before["analysis_details"][1]["metadata"])
    assert meta["not_yet_available"] == ["fund:GGAL:q"]
    assert after["fundamental_score"] == pytest.approx(scoring.score_of(list(scoring.fundamental_components(
        8.0, 1.0, 0.2, 0.3, 0.1, 0.15).values())), abs=0.005)
    assert after["confidence"] > before["confidence"]
    assert after["inputs_hash"] != before["inputs_hash"]


def test_a_run_is_idempotent_and_ids_are_stable() -> None:
    events = series("GGAL", wave(40)) + [job(DAYS[40])]
    once = run(events, CFG)
    twice = run(events + [job(DAYS[40])], CFG)
    assert [e.record for e in twice] == [e.record for e in once]  # the second request emits nothing
    reco = recommendations(once)[(DAYS[40].isoformat(), "GGAL")]
    assert reco["event_id"] == f"reco:{DAYS[40]}:GGAL:reco-1"
    assert reco["cutoff"] == CAL.cutoff_us(DAYS[40]) == reco["event_time"]
    assert reco["model_version"] == "reco-1" and len(reco["inputs_hash"]) == 16
    assert [d["analysis_type"] for d in reco["analysis_details"]] == ["technical", "fundamental", "macro",
                                                                      "sentiment"]


def test_a_request_after_newer_bars_fails_the_ticker_not_the_job() -> None:
    events = series("GGAL", wave(41)) + [job(DAYS[39])]  # bars of DAYS[40] folded before the request
    out = run(events, RecommendationsConfig(shards=1))
    (jr,) = [e.record for e in out if e.schema == "JobRun"]
    assert jr["errors"][0]["reason"] == "state-after-cutoff"


# ---------------------------------------------------------------------------------------------- point in time
def small_history() -> dict:
    return generate_history(HistoryConfig(seed=5, start=date(2023, 1, 2), end=date(2023, 12, 29), tickers=10))


def test_look_ahead_recomputing_past_dates_on_truncated_histories_gives_the_same_answers() -> None:
    cfg = RecommendationsConfig(shards=3)
    history = small_history()
    days = TradingCalendar(cfg).trading_days(date(2023, 3, 1), date(2023, 12, 29))
    full = recommendations(run(events_of(history, days, cfg), cfg))
    assert len({d for d, _ in full}) == len(days)
    for day in days[::40] + days[-1:]:
        cutoff = TradingCalendar(cfg).cutoff_us(day)
        truncated = {t: [r for r in rs if r["event_time"] <= cutoff] for t, rs in history.items()}
        alone = recommendations(run(events_of(truncated, [day], cfg), cfg))
        assert alone == {k: v for k, v in full.items() if k[0] == day.isoformat()}, day


def test_state_is_json_and_restores_mid_history() -> None:
    cfg = RecommendationsConfig(shards=2)
    history = small_history()
    days = TradingCalendar(cfg).trading_days(date(2023, 6, 1), date(2023, 7, 31))
    events = events_of(history, days, cfg)
    whole = run(events, cfg)
    half = len(events) // 2
    first = InProcessRecommendations(cfg)
    out = [e for ev in events[:half] for e in first.feed(*ev) if e.topic != topics.RECO_INPUTS]
    state = json.loads(json.dumps(first.snapshot()))
    second = InProcessRecommendations(cfg)
    second.restore_state(state)
    out += [e for ev in events[half:] for e in second.feed(*ev) if e.topic != topics.RECO_INPUTS]
    assert [e.record for e in out] == [e.record for e in whole]


# ---------------------------------------------------------------------------------------------- generator
def test_generator_is_seeded_and_realistic() -> None:
    a, b = small_history(), small_history()
    assert a == b
    bars = a[topics.DAILY_BARS]
    days = {r["date"] for r in bars}
    assert "2023-05-01" not in days and "2023-02-20" not in days  # Labour Day, Carnival Monday
    assert all(date.fromisoformat(d).weekday() < 5 for d in days)
    per = {}
    for r in bars:
        per.setdefault(r["ticker"], []).append(r)
    counts = sorted(len(v) for v in per.values())
    assert counts[0] < counts[-1] == len(days)  # some tickers miss days
    for rs in per.values():
        closes = np.array([r["close"] for r in rs])
        assert (closes > 0).all() and all(r["low"] <= min(r["open"], r["close"]) for r in rs)
        moves = np.abs(np.diff(np.log(closes)))
        assert 0.005 < float(np.median(moves)) < 0.05  # daily moves of a few percent
    lags = [r["available_at"] - r["period_end"] for r in a[topics.FUNDAMENTALS]]
    assert min(lags) > 40 * 86_400e6 and max(lags) > 95 * 86_400e6  # some fundamentals are late
    assert {r["indicator"] for r in a[topics.MACRO]} == {"inflation_mom", "policy_rate", "fx_official",
                                                        "fx_parallel", "country_risk"}
    longer = generate_history(HistoryConfig(seed=5, start=date(2021, 1, 4), end=date(2025, 12, 31), tickers=40))
    assert any(r["split_ratio"] != 1.0 for r in longer[topics.DAILY_BARS])
    assert any(r["dividend"] > 0 for r in longer[topics.DAILY_BARS])


# ---------------------------------------------------------------------------------------------- properties
closes_st = st.lists(st.floats(min_value=0.8, max_value=1.25), min_size=30, max_size=80).map(
    lambda moves: [float(x) for x in np.cumprod([100.0, *moves])])


@settings(max_examples=40, deadline=None)
@given(closes_st, st.floats(min_value=-1, max_value=1), st.booleans())
def test_scores_stay_in_range_and_the_label_follows_the_total(closes: list[float], mood: float,
                                                               with_sentiment: bool) -> None:
    n = len(closes)
    days = CAL.trading_days(date(2024, 1, 2), date(2024, 1, 2) + timedelta(days=2 * n + 10))
    events = series("GGAL", closes, days)
    if with_sentiment:
        events.append((topics.SENTIMENT, "SentimentScore", {
            "event_id": "s", "event_time": CAL.cutoff_us(days[n]) - 3_600_000_000, "ticker": "GGAL",
            "date": days[n - 1].isoformat(), "score": mood, "articles": 3}))
    out = run(events + [job(days[n])], CFG)
    reco = recommendations(out)[(days[n].isoformat(), "GGAL")]
    for field in ("total_score", "confidence", "technical_score"):
        assert 0.0 <= reco[field] <= 100.0
    label = "BUY" if reco["total_score"] >= 60 else "SELL" if reco["total_score"] <= 40 else "HOLD"
    assert reco["recommendation"] == label
    assert reco["target_price"] > 0
    assert (reco["sentiment_score"] is not None) == with_sentiment


@settings(max_examples=25, deadline=None)
@given(st.permutations(["GGAL", "YPFD", "AAPL", "KO", "TXAR"]))
def test_the_order_tickers_arrive_in_does_not_matter(order: list[str]) -> None:
    base = {t: wave(35, 50.0 + 10 * i) for i, t in enumerate(sorted(order))}
    events = []
    for i in range(35):
        for t in order:
            events.append((topics.DAILY_BARS, "DailyBar", bar(t, DAYS[i], base[t][i])))
    out = recommendations(run(events + [job(DAYS[35])], CFG))
    ref = recommendations(run([(topics.DAILY_BARS, "DailyBar", bar(t, DAYS[i], base[t][i]))
                               for i in range(35) for t in sorted(order)] + [job(DAYS[35])], CFG))
    assert out == ref and len(out) == 5


# ---------------------------------------------------------------------------------------------- evaluation
def test_evaluation_exact_on_a_hand_built_universe() -> None:
    from processors.recommendations.evaluation import evaluate, rank, spearman

    assert list(rank(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # five tickers, one day: returns after 1 bar +4 %, +2 %, 0, -2 %, -4 % (A best), scores 80..20
    days = DAYS[:3]
    moves = {"A": 1.04, "B": 1.02, "C": 1.00, "D": 0.98, "E": 0.96}
    bars = []
    for t, m in moves.items():
        bars += [bar(t, days[0], 100.0), bar(t, days[1], 100.0 * m), bar(t, days[2], 100.0 * m * m)]
    bars.sort(key=lambda b: b["event_time"])
    scores = {"A": 80.0, "B": 65.0, "C": 50.0, "D": 35.0, "E": 20.0}
    label = {"A": "BUY", "B": "BUY", "C": "HOLD", "D": "SELL", "E": "SELL"}
    recos = [{"analysis_date": days[1].isoformat(), "ticker": t, "recommendation": label[t], "total_score": s,
              "last_bar_date": days[0].isoformat()} for t, s in scores.items()]
    ev = evaluate(recos, bars, horizons=(1, 2))
    buy = ev.by_label[1]["BUY"]
    assert (buy.count, buy.mean, buy.hit_rate, buy.beat_benchmark) == (2, pytest.approx(0.03), 1.0, 1.0)
    sell = ev.by_label[1]["SELL"]
    assert (sell.mean, sell.hit_rate, sell.beat_benchmark) == (pytest.approx(-0.03), 0.0, 0.0)
    assert ev.by_label[2]["BUY"].mean == pytest.approx((1.04 ** 2 + 1.02 ** 2) / 2 - 1)
    assert ev.mean_ic[1] == pytest.approx(1.0)
    assert ev.quintiles[1] == pytest.approx([-0.04, -0.02, 0.0, 0.02, 0.04])
    assert ev.basket_returns["BUY"] == pytest.approx([0.03])
    assert ev.basket_returns["benchmark"] == pytest.approx([0.0])
    assert ev.cumulative()["SELL"] == pytest.approx([0.97])
