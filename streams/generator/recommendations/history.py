"""Daily bars, fundamentals, macro values and news sentiment for a universe of BYMA shares and CEDEARs
over several years, seeded and deterministic (same config, same records, byte for byte in the files).

* Trading days: BYMA's (weekdays that are not Argentine holidays, ``holidays``), bars at the 17:00 close.
* Prices: a geometric random walk with Student-t shocks (fat tails) and a per-ticker daily volatility
  (local shares 2-3.5 %, CEDEARs 1.3-2.5 %), a drift for Argentine inflation; OHLC around it.
* Adjustments: some tickers split (2, 5 or 10 for 1: prices divide, ``split_ratio`` on that day's bar),
  some pay a yearly dividend (the price drops by it on the ex day, ``dividend`` on the bar).
* A few tickers miss days (no bar, ~3 % of days); fundamentals come quarterly 45-70 days after the
  period's end, for a few tickers 100-140 days after (late); macro values monthly (inflation, policy
  rate) and weekly (official and parallel FX, country risk); sentiment on about a third of the days.

Event times never equal a cutoff (06:00 Buenos Aires): closes 17:00, macro 16:00, fundamentals 18:30,
sentiment 23:00 local time.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from processors import topics
from processors.recommendations import schedule
from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.config import RecommendationsConfig
from streams.generator.clock import iso
from streams.generator.rng import domain_rng
from streams.generator.writer import FileEntry, write_jsonl

BYMA = ("GGAL", "YPFD", "PAMP", "BMA", "TXAR", "ALUA", "CEPU", "COME", "CRES", "EDN", "LOMA", "SUPV", "TECO2",
        "TGNO4", "TGSU2", "TRAN", "VALO", "BYMA", "MIRG", "HARG", "BBAR", "METR", "IRSA", "CVH", "AGRO", "AUSO",
        "BHIP", "BOLT", "CAPX", "CARC", "CGPA2", "CTIO", "DGCU2", "FERR", "GCLA", "INVJ", "LEDE", "LONG", "MOLA",
        "MORI", "OEST", "PATA", "RIGO", "SAMI", "SEMI")
CEDEARS = ("AAPL", "MSFT", "KO", "AMZN", "GOOGL", "MELI", "TSLA", "NVDA", "JPM", "XOM", "WMT", "DIS", "PFE",
           "BABA", "META", "NFLX", "INTC", "AMD", "BA", "VIST", "GLOB", "DESP", "PBR", "VALE", "BBD", "ITUB")
FILES: dict[str, tuple[str, ...]] = {
    topics.DAILY_BARS: ("mercado.recommendations.DailyBar",),
    topics.FUNDAMENTALS: ("mercado.recommendations.FundamentalSnapshot",),
    topics.MACRO: ("mercado.recommendations.MacroIndicator",),
    topics.SENTIMENT: ("mercado.recommendations.SentimentScore",),
}


@dataclass(frozen=True)
class HistoryConfig:
    seed: int = 42
    start: date = date(2021, 1, 4)
    end: date = date(2025, 12, 31)
    tickers: int = 40  # the first ones are real names (BYMA then CEDEARs interleaved), then synthetic ones
    cedear_share: float = 0.35
    missing_days_tickers: int = 3  # tickers that miss ~3 % of their days
    late_fundamentals_tickers: int = 3
    fundamentals: bool = True
    macro: bool = True
    sentiment: bool = True


def universe(n: int, cedear_share: float) -> list[tuple[str, str]]:
    """(ticker, market) pairs: real names first, then BYxxxx / CDxxxx."""
    out: list[tuple[str, str]] = []
    b = c = 0
    while len(out) < n:
        if c < (len(out) + 1) * cedear_share and c < len(CEDEARS) + 10**6:
            name = CEDEARS[c] if c < len(CEDEARS) else f"CD{c:04d}"
            out.append((name, "CEDEAR"))
            c += 1
        else:
            name = BYMA[b] if b < len(BYMA) else f"BY{b:04d}"
            out.append((name, "BYMA"))
            b += 1
    return out


def _t_shock(rng: Any, nu: float = 4.0) -> float:
    """A Student-t draw scaled to unit variance."""
    z = rng.gauss(0.0, 1.0)
    chi = rng.gammavariate(nu / 2, 2.0)  # chi-squared with nu degrees of freedom
    return z / math.sqrt(chi / nu) * math.sqrt((nu - 2) / nu)


def generate_history(config: HistoryConfig = HistoryConfig(),
                     reco: RecommendationsConfig | None = None) -> dict[str, list[dict[str, Any]]]:
    """Records per input topic (wire form: times in µs), each list in event-time order."""
    cal = TradingCalendar(reco)
    days = cal.trading_days(config.start, config.end)
    names = universe(config.tickers, config.cedear_share)
    setup = domain_rng(config.seed, None, "reco-setup")
    missing = {names[i][0] for i in setup.sample(range(len(names)), min(config.missing_days_tickers, len(names)))}
    late = {names[i][0] for i in setup.sample(range(len(names)), min(config.late_fundamentals_tickers, len(names)))}
    bars: list[dict[str, Any]] = []
    fundamentals: list[dict[str, Any]] = []
    sentiment: list[dict[str, Any]] = []
    for ticker, market in names:
        rng = domain_rng(config.seed, None, f"reco-ticker-{ticker}")
        sigma = rng.uniform(0.013, 0.025) if market == "CEDEAR" else rng.uniform(0.02, 0.035)
        drift = math.log(1.0 + rng.uniform(0.5, 1.2)) / 252  # Argentine inflation in pesos, a year
        price = rng.uniform(200.0, 9000.0)
        split_day = days[rng.randrange(len(days) // 4, len(days))] if rng.random() < 0.15 else None
        split_ratio = float(rng.choice((2, 5, 10)))
        dividend_month = rng.randrange(1, 13) if rng.random() < 0.3 else None
        paid: set[int] = set()
        mood = 0.0
        for day in days:
            ret = drift - sigma * sigma / 2 + sigma * _t_shock(rng)
            prev = price
            open_ = prev * math.exp(sigma * 0.3 * rng.gauss(0.0, 1.0))
            price = prev * math.exp(ret)
            ratio, dividend = 1.0, 0.0
            if day == split_day:
                ratio = split_ratio
                price, open_ = price / ratio, open_ / ratio
            if dividend_month == day.month and day.year not in paid and day.day >= 10:
                paid.add(day.year)
                dividend = round(price * rng.uniform(0.02, 0.05), 2)
                price, open_ = price - dividend, open_ - dividend
            high = max(open_, price) * math.exp(abs(rng.gauss(0.0, sigma * 0.4)))
            low = min(open_, price) * math.exp(-abs(rng.gauss(0.0, sigma * 0.4)))
            mood = 0.8 * mood + 0.2 * rng.gauss(0.0, 0.6) + 4.0 * (ret - drift)
            if ticker in missing and rng.random() < 0.03:
                continue
            bars.append({
                "event_id": f"dbar:{ticker}:{day}", "event_time": cal.close_us(day), "ticker": ticker,
                "market": market, "date": day.isoformat(), "open": round(open_, 2), "high": round(high, 2),
                "low": round(low, 2), "close": round(price, 2), "volume": float(int(rng.lognormvariate(11, 1))),
                "currency": "ARS", "split_ratio": ratio, "dividend": dividend,
            })
            if config.sentiment and rng.random() < 0.33:
                sentiment.append({
                    "event_id": f"sent:{ticker}:{day}", "event_time": cal.at(day, time(23, 0)), "ticker": ticker,
                    "date": day.isoformat(), "score": round(max(-1.0, min(1.0, mood)), 3),
                    "articles": rng.randrange(1, 25),
                })
        if config.fundamentals:
            fundamentals.extend(_fundamentals(rng, cal, ticker, config, ticker in late))
    out = {
        topics.DAILY_BARS: sorted(bars, key=lambda r: (r["event_time"], r["ticker"])),
        topics.FUNDAMENTALS: sorted(fundamentals, key=lambda r: (r["event_time"], r["ticker"])),
        topics.MACRO: _macro(config, cal) if config.macro else [],
        topics.SENTIMENT: sorted(sentiment, key=lambda r: (r["event_time"], r["ticker"])),
    }
    return out


def _quarter_ends(first: date, last: date) -> list[date]:
    out = []
    for year in range(first.year - 1, last.year + 1):
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            out.append(date(year, month, day))
    return out


def _fundamentals(rng: Any, cal: TradingCalendar, ticker: str, config: HistoryConfig,
                  late: bool) -> list[dict[str, Any]]:
    out = []
    pe, pb, roe = rng.uniform(4, 35), rng.uniform(0.4, 4.0), rng.uniform(-0.05, 0.3)
    de, growth, margin = rng.uniform(0.1, 2.0), rng.uniform(-0.2, 0.3), rng.uniform(-0.05, 0.25)
    for end in _quarter_ends(config.start, config.end):
        lag = rng.randint(100, 140) if late else rng.randint(45, 70)
        available = end + timedelta(days=lag)
        pe, pb = max(1.0, pe * math.exp(rng.gauss(0, 0.15))), max(0.1, pb * math.exp(rng.gauss(0, 0.1)))
        roe, de = roe + rng.gauss(0, 0.02), max(0.0, de + rng.gauss(0, 0.1))
        growth, margin = growth * 0.7 + rng.gauss(0, 0.06), margin * 0.8 + rng.gauss(0.02, 0.02)
        if not (config.start <= available <= config.end):
            continue
        t = cal.at(available, time(18, 30))
        out.append({
            "event_id": f"fund:{ticker}:{end}", "event_time": t, "ticker": ticker,
            "period_end": cal.at(end, time(23, 59)), "available_at": t,
            "pe": round(pe if rng.random() > 0.05 else -pe, 2), "pb": round(pb, 2), "roe": round(roe, 4),
            "debt_to_equity": round(de, 3), "revenue_growth": round(growth, 4), "profit_margin": round(margin, 4),
        })
    return out


def _macro(config: HistoryConfig, cal: TradingCalendar) -> list[dict[str, Any]]:
    rng = domain_rng(config.seed, None, "reco-macro")
    out: list[dict[str, Any]] = []
    inflation, rate, official, gap, risk = 4.0, 40.0, 90.0, 0.6, 1500.0

    def add(indicator: str, period: str, value: float, day: date) -> None:
        t = cal.at(day, time(16, 0))
        out.append({"event_id": f"macro:{indicator}:{period}", "event_time": t, "indicator": indicator,
                    "period": period, "value": round(value, 4), "available_at": t, "shard": None})

    day = config.start
    while day <= config.end:
        if day.day == 13:  # INDEC publishes the previous month's CPI mid-month
            prev = (day.replace(day=1) - timedelta(days=1))
            inflation = max(0.5, inflation + rng.gauss(0, 0.8))
            add("inflation_mom", prev.strftime("%Y-%m"), inflation, day)
            rate = max(20.0, rate + rng.gauss(0, 4.0))
            add("policy_rate", day.strftime("%Y-%m"), rate, day)
        if day.weekday() == 4:  # weekly figures, Fridays
            official *= math.exp(inflation / 100 / 4.3 + rng.gauss(0, 0.004))
            gap = min(2.0, max(0.0, gap + rng.gauss(0, 0.05)))
            risk = min(4000.0, max(500.0, risk * math.exp(rng.gauss(0, 0.05))))
            week = day.isoformat()
            add("fx_official", week, official, day)
            add("fx_parallel", week, official * (1 + gap), day)
            add("country_risk", week, risk, day)
        day += timedelta(days=1)
    return sorted(out, key=lambda r: (r["event_time"], r["indicator"]))


def job_request(day: date, reco: RecommendationsConfig | None = None, trigger: str = "backtest") -> dict[str, Any]:
    """The JobRequested of the run for ``day`` (its event id is the same whoever asks: re-runs are idempotent)."""
    return schedule.job_request(day, reco, trigger)


SCHEMAS = {topics.DAILY_BARS: "DailyBar", topics.FUNDAMENTALS: "FundamentalSnapshot", topics.MACRO: "MacroIndicator",
           topics.SENTIMENT: "SentimentScore", topics.JOB_REQUESTS: "JobRequested"}


def input_events(history: dict[str, list[dict[str, Any]]], days: Iterable[date],
                 reco: RecommendationsConfig | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(topic, schema, record)``: every input and one job request per day, merged in event-time order
    as the replay merges topics (each topic's list keeps its order; at equal times, inputs first)."""
    streams = [[(r["event_time"], i, (topic, SCHEMAS[topic], r)) for r in records]
               for i, (topic, records) in enumerate(sorted(history.items()))]
    jobs = [job_request(d, reco) for d in days]
    streams.append([(j["event_time"], len(streams), (topics.JOB_REQUESTS, "JobRequested", j)) for j in jobs])
    for _t, _i, event in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
        yield event


def write_history(out_dir: Path, config: HistoryConfig = HistoryConfig()) -> dict[str, FileEntry]:
    """One JSON Lines file per input topic (``<topic>.jsonl``) for ``mercado produce``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    times = ("event_time", "period_end", "available_at")

    def text(record: dict[str, Any]) -> dict[str, Any]:  # timestamps as ISO-8601, like every generated file
        return {k: iso(v) if k in times else v for k, v in record.items()}

    return {topic: write_jsonl(out_dir / f"{topic}.jsonl", map(text, records), topic=topic)
            for topic, records in generate_history(config).items()}
