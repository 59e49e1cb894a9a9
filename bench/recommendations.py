"""``python -m bench.recommendations``: ticker-days/s of a 10-year daily backtest of 500 tickers through the
recommendations job, next to a same-run baseline computing the same features with pandas + TA-Lib over
whole arrays; and the seconds one day's run takes for 5,000 tickers.

Inputs are synthetic and seeded (numpy): a geometric random walk per ticker on BYMA trading days (OHLC
around it), quarterly fundamentals published 50 days after each quarter, weekly macro values, and a
sentiment score on a third of the days. Each phase runs in a child process of its own, so its peak RSS
is its own (``ru_maxrss``: interpreter, numpy, the input arrays and the job's state).

* candidate: the job as the worker and ``mercado recommend backtest`` run it — both stages in process
  (:class:`processors.recommendations.InProcessRecommendations`: routing to shards, per-ticker
  incremental indicators, fundamentals/macro/sentiment known at each cutoff, the Recommendation record
  with its analysis details, one JobRun per shard), fed day by day (a JobRequested at 06:00, macro 16:00,
  bars 17:00, fundamentals 18:30, sentiment 23:00 Buenos Aires). Records are built outside the timed part.
* baseline: per ticker, a pandas frame of the whole history, TA-Lib SMA 20/50/200, RSI 14, MACD 12/26/9,
  ATR 14 and Bollinger 20/2 over whole arrays, the technical score vectorized, fundamentals, sentiment
  and macro joined point in time (``merge_asof`` on their availability), the weighted total and the
  label per day. Same features, no incremental state, no records, no point-in-time machinery per event.
* day_5000_s: 5,000 tickers with 205 days of bars folded (SMA 200 warm), then one JobRequested: the time
  from the request to every shard's recommendations and JobRun (CPU seconds of this process).

Rates are per CPU-second (``time.process_time``) of the single-threaded child: ticker-days/s on one core.
Targets (issue #22): >= 20,000 ticker-days/s; day_5000_s <= 5.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from datetime import time as dtime
from typing import Any

import numpy as np

from bench.common import result
from processors import topics
from processors.recommendations import InProcessRecommendations, RecommendationsConfig
from processors.recommendations.calendar import TradingCalendar

CFG = RecommendationsConfig()
CAL = TradingCalendar(CFG)
DAY_US = 86_400_000_000


class Market:
    """Seeded synthetic inputs for ``tickers`` over ``days`` (arrays: ticker x day)."""

    def __init__(self, tickers: int, days: list[date], seed: int):
        rng = np.random.default_rng(seed)
        self.days = days
        self.names = [f"T{i:04d}" for i in range(tickers)]
        n = len(days)
        sigma = rng.uniform(0.015, 0.035, size=(tickers, 1))
        shocks = rng.standard_t(4, size=(tickers, n)) * np.sqrt(0.5) * sigma
        self.close = np.round(rng.uniform(200, 9000, size=(tickers, 1)) * np.exp(np.cumsum(shocks + 0.002, axis=1)), 2)
        self.open = np.round(self.close * np.exp(rng.normal(0, 0.005, size=(tickers, n))), 2)
        hi = np.maximum(self.open, self.close)
        lo = np.minimum(self.open, self.close)
        self.high = np.round(hi * np.exp(np.abs(rng.normal(0, 0.006, size=(tickers, n)))), 2)
        self.low = np.round(lo * np.exp(-np.abs(rng.normal(0, 0.006, size=(tickers, n)))), 2)
        self.volume = rng.lognormal(11, 1, size=(tickers, n)).round()
        self.sentiment = np.where(rng.random((tickers, n)) < 0.33, np.round(rng.uniform(-1, 1, (tickers, n)), 3),
                                  np.nan)
        self.close_us = np.array([CAL.close_us(d) for d in days], dtype=np.int64)
        self.cutoff_us = np.array([CAL.cutoff_us(d) for d in days], dtype=np.int64)
        # fundamentals: quarter ends, published 50 days later (at 18:30)
        ends = [date(y, m, d) for y in range(days[0].year - 1, days[-1].year + 1)
                for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))]
        self.fund_days = [(e, e + timedelta(days=50)) for e in ends if days[0] <= e + timedelta(days=50) <= days[-1]]
        q = len(self.fund_days)
        self.fund = {
            "pe": np.round(rng.uniform(4, 35, (tickers, q)), 2), "pb": np.round(rng.uniform(0.4, 4, (tickers, q)), 2),
            "roe": np.round(rng.uniform(-0.05, 0.3, (tickers, q)), 4),
            "debt_to_equity": np.round(rng.uniform(0.1, 2, (tickers, q)), 3),
            "revenue_growth": np.round(rng.uniform(-0.2, 0.3, (tickers, q)), 4),
            "profit_margin": np.round(rng.uniform(-0.05, 0.25, (tickers, q)), 4),
        }
        weeks = [d for d in days if d.weekday() == 4]
        self.macro_days = weeks
        w = len(weeks)
        self.macro = {"inflation_mom": np.round(rng.uniform(1, 8, w), 2),
                      "policy_rate": np.round(rng.uniform(30, 90, w), 2),
                      "fx_official": np.round(np.linspace(100, 1000, w), 2),
                      "fx_parallel": np.round(np.linspace(180, 1200, w), 2),
                      "country_risk": np.round(rng.uniform(700, 2500, w), 1)}

    def day_events(self, d: int, tickers: range | None = None, jobs: bool = True) -> list[tuple[str, str, dict]]:
        """Day ``d``'s events in event-time order (Buenos Aires): job 06:00, macro 16:00, bars 17:00,
        fundamentals 18:30, sentiment 23:00."""
        day = self.days[d]
        iso = day.isoformat()
        rows = range(len(self.names)) if tickers is None else tickers
        out: list[tuple[str, str, dict]] = []
        if jobs:
            cutoff = int(self.cutoff_us[d])
            out.append((topics.JOB_REQUESTS, "JobRequested", {
                "event_id": f"job:{CFG.job}:{iso}", "event_time": cutoff, "job": CFG.job, "run_date": iso,
                "cutoff": cutoff, "trigger": "backtest", "shard": None}))
        if day in self.macro_days:
            w = self.macro_days.index(day)
            t = CAL.at(day, dtime(16, 0))
            for name, values in self.macro.items():
                out.append((topics.MACRO, "MacroIndicator", {
                    "event_id": f"macro:{name}:{iso}", "event_time": t, "indicator": name, "period": iso,
                    "value": float(values[w]), "available_at": t, "shard": None}))
        t = int(self.close_us[d])
        close, open_, high, low = (self.close[:, d].tolist(), self.open[:, d].tolist(),
                                   self.high[:, d].tolist(), self.low[:, d].tolist())
        volume = self.volume[:, d].tolist()
        names = self.names
        for i in rows:
            out.append((topics.DAILY_BARS, "DailyBar", {
                "event_id": f"dbar:{names[i]}:{iso}", "event_time": t, "ticker": names[i], "market": "BYMA",
                "date": iso, "open": open_[i], "high": high[i], "low": low[i], "close": close[i],
                "volume": volume[i], "currency": "ARS", "split_ratio": 1.0, "dividend": 0.0}))
        for q, (end, published) in enumerate(self.fund_days):
            if published == day:
                tf = CAL.at(day, dtime(18, 30))
                for i in rows:
                    out.append((topics.FUNDAMENTALS, "FundamentalSnapshot", {
                        "event_id": f"fund:{names[i]}:{end}", "event_time": tf, "ticker": names[i],
                        "period_end": CAL.at(end, dtime(23, 59)), "available_at": tf,
                        **{k: float(v[i, q]) for k, v in self.fund.items()}}))
        ts = CAL.at(day, dtime(23, 0))
        sent = self.sentiment[:, d]
        for i in rows:
            if not np.isnan(sent[i]):
                out.append((topics.SENTIMENT, "SentimentScore", {
                    "event_id": f"sent:{names[i]}:{iso}", "event_time": ts, "ticker": names[i], "date": iso,
                    "score": float(sent[i]), "articles": 3}))
        return out


def candidate(market: Market) -> tuple[int, float, int]:
    """(ticker-days answered, CPU seconds, state bytes) of the job over every day."""
    pipeline = InProcessRecommendations(CFG)
    feed = pipeline.feed
    answered = 0
    cpu = 0.0
    for d in range(len(market.days)):
        events = market.day_events(d)
        started = time.process_time()
        for topic, schema, record in events:
            for e in feed(topic, schema, record):
                if e.schema == "JobRun":
                    answered += e.record["tickers_processed"] + e.record["errors_count"]
        cpu += time.process_time() - started
    state = len(json.dumps(pipeline.snapshot()))
    return answered, cpu, state


def baseline(market: Market) -> tuple[int, float]:
    """(ticker-days scored, CPU seconds): the same features, pandas + TA-Lib over whole arrays."""
    import pandas as pd
    import talib

    started = time.process_time()
    w = CFG.weights
    cutoffs = pd.DataFrame({"cutoff": market.cutoff_us})
    macro = pd.DataFrame({"available_at": [CAL.at(d, dtime(16, 0)) for d in market.macro_days],
                          **{k: v for k, v in market.macro.items()}}).sort_values("available_at")
    cutoff_next = np.append(market.cutoff_us[1:], market.cutoff_us[-1] + DAY_US)  # the run after each bar's day
    m = pd.merge_asof(pd.DataFrame({"cutoff": cutoff_next}), macro, left_on="cutoff", right_on="available_at")
    gap = (m["fx_parallel"] / m["fx_official"] - 1.0)
    real = m["policy_rate"] - ((1 + m["inflation_mom"] / 100) ** 12 - 1) * 100
    macro_parts = np.vstack([((3 - m["inflation_mom"]) / 3).clip(-1, 1),
                             ((1500 - m["country_risk"]) / 1000).clip(-1, 1),
                             ((0.5 - gap) / 0.5).clip(-1, 1), (real / 20).clip(-1, 1)])
    macro_score = 50 + 50 * np.nanmean(macro_parts, axis=0)
    fund_t = np.array([CAL.at(p, dtime(18, 30)) for _, p in market.fund_days], dtype=np.int64)
    sent_t = np.array([CAL.at(d, dtime(23, 0)) for d in market.days], dtype=np.int64)
    rows = 0
    for i in range(len(market.names)):
        c, h, lo = market.close[i], market.high[i], market.low[i]
        frame = pd.DataFrame({"cutoff": cutoff_next, "close": c})
        sma20, sma50, sma200 = talib.SMA(c, 20), talib.SMA(c, 50), talib.SMA(c, 200)
        rsi = talib.RSI(c, 14)
        _macd, _sig, hist = talib.MACD(c, 12, 26, 9)
        atr = talib.ATR(h, lo, c, 14)
        up, mid, low = talib.BBANDS(c, 20, 2.0, 2.0)
        trend = np.nanmean(np.vstack([((c / sma20 - 1) / 0.05).clip(-1, 1), ((sma20 / sma50 - 1) / 0.05).clip(-1, 1),
                                      ((sma50 / sma200 - 1) / 0.10).clip(-1, 1)]), axis=0)
        mom_rsi = np.where(rsi > 70, -0.5, np.where(rsi < 30, 0.5, ((rsi - 50) / 25).clip(-1, 1)))
        momentum = np.nanmean(np.vstack([mom_rsi, (hist / (0.5 * atr)).clip(-1, 1)]), axis=0)
        technical = 50 + 50 * np.nanmean(np.vstack([trend, momentum]), axis=0)
        fund = pd.DataFrame({"available_at": fund_t, **{k: v[i] for k, v in market.fund.items()}})
        f = pd.merge_asof(frame, fund, left_on="cutoff", right_on="available_at")
        fparts = np.vstack([np.where(f["pe"] <= 0, -1, ((20 - f["pe"]) / 10).clip(-1, 1)),
                            ((2 - f["pb"]) / 1.5).clip(-1, 1), ((f["roe"] - 0.1) / 0.1).clip(-1, 1),
                            (1 - f["debt_to_equity"]).clip(-1, 1), (f["revenue_growth"] / 0.15).clip(-1, 1),
                            ((f["profit_margin"] - 0.05) / 0.1).clip(-1, 1)])
        fundamental = 50 + 50 * np.nanmean(fparts, axis=0)
        s = pd.DataFrame({"at": sent_t, "score": market.sentiment[i]}).dropna()
        st = pd.merge_asof(frame, s, left_on="cutoff", right_on="at")
        sentiment = np.where(cutoff_next - st["at"] <= 3 * DAY_US, 50 + 50 * st["score"].clip(-1, 1), np.nan)
        scores = np.vstack([technical, fundamental, macro_score, sentiment])
        weights = np.array([w.technical, w.fundamental, w.macro, w.sentiment])[:, None] * ~np.isnan(scores)
        total = np.nansum(scores * weights, axis=0) / weights.sum(axis=0)
        label = np.where(total >= CFG.buy_above, 2, np.where(total <= CFG.sell_below, 0, 1))
        atr_pct = atr / c
        _risk = np.maximum(atr_pct, (up - low) / mid / 4)
        rows += int(np.count_nonzero(~np.isnan(label.astype(float))))
    del cutoffs
    return rows, time.process_time() - started


def day_run(tickers: int, warm_days: int, seed: int) -> tuple[float, int, int]:
    """(CPU seconds of one day's run, recommendations, state bytes) for ``tickers`` with ``warm_days`` of bars."""
    days = CAL.trading_days(date(2024, 1, 2), date(2025, 12, 31))[: warm_days + 1]
    market = Market(tickers, days, seed)
    pipeline = InProcessRecommendations(CFG)
    feed = pipeline.feed
    for d in range(warm_days):
        for event in market.day_events(d, jobs=False):
            feed(*event)
    job = market.day_events(warm_days)[0]
    assert job[1] == "JobRequested"
    started = time.process_time()
    out = feed(*job)
    cpu = time.process_time() - started
    recos = sum(1 for e in out if e.schema == "Recommendation")
    return cpu, recos, len(json.dumps(pipeline.snapshot()))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "backtest":
        days = CAL.trading_days(date(2015, 1, 5), date(2015, 1, 5) + timedelta(days=round(365.25 * args.years)))
        market = Market(args.tickers, days, args.seed)
        base_rows, base_cpu = baseline(market)
        answered, cpu, state = candidate(market)
        return {"ticker_days": answered, "cpu_s": cpu, "baseline_rows": base_rows, "baseline_cpu_s": base_cpu,
                "state_bytes": state, "days": len(days), "peak_rss_mb": _rss_mb()}
    cpu, recos, state = day_run(args.day_tickers, 205, args.seed)
    return {"day_s": cpu, "recommendations": recos, "state_bytes": state, "peak_rss_mb": _rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--day-tickers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase", choices=("backtest", "day"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args)))
        return
    runs = {}
    for name in ("backtest", "day"):
        child = subprocess.run([sys.executable, "-m", "bench.recommendations", "--phase", name,
                                "--tickers", str(args.tickers), "--years", str(args.years),
                                "--day-tickers", str(args.day_tickers), "--seed", str(args.seed)],
                               check=True, capture_output=True, text=True)
        runs[name] = json.loads(child.stdout.strip().splitlines()[-1])
    b, d = runs["backtest"], runs["day"]
    value = b["ticker_days"] / b["cpu_s"]
    base = b["baseline_rows"] / b["baseline_cpu_s"]
    print(f"backtest: {args.tickers} tickers x {b['days']} trading days = {b['ticker_days']:,} ticker-days in "
          f"{b['cpu_s']:.1f} CPU s; baseline (pandas + TA-Lib, whole arrays) {b['baseline_rows']:,} in "
          f"{b['baseline_cpu_s']:.2f} CPU s; job state {b['state_bytes'] / 1e6:.1f} MB as JSON; "
          f"peak RSS {b['peak_rss_mb']:.0f} MB")
    print(f"one day, {args.day_tickers:,} tickers: {d['day_s']:.2f} CPU s for {d['recommendations']:,} "
          f"recommendations; job state {d['state_bytes'] / 1e6:.1f} MB as JSON; peak RSS {d['peak_rss_mb']:.0f} MB")
    result("recommendations", value, base, "ticker-days/s (CPU time, one core)", day_5000_s=round(d["day_s"], 3),
           ticker_days=b["ticker_days"], peak_rss_backtest_mb=round(b["peak_rss_mb"]),
           peak_rss_day_mb=round(d["peak_rss_mb"]), state_backtest_mb=round(b["state_bytes"] / 1e6, 1),
           state_day_mb=round(d["state_bytes"] / 1e6, 1), tickers=args.tickers, years=args.years,
           day_tickers=args.day_tickers, target_ticker_days_s=20_000, target_day_5000_s=5.0)


if __name__ == "__main__":
    main()
