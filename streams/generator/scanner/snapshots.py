"""Gappers scanner: every 10 s from 04:00 to the end of post-market (NYSE days only), top movers.

Each ticker walks from its previous close; most drift a little, some get news: pre-market
gappers (earnings, offerings, FDA), intraday movers and after-hours earnings movers, whose
price jumps, whose volatility and volume spike and then decay. Each snapshot lists the 50
tickers with the largest absolute change from the previous close.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from statistics import NormalDist
from typing import Any

from streams.generator.clock import SECOND, iso
from streams.generator.config import SCANNER, SCANNER_NAME
from streams.generator.marketdata.calendars import NyseDay
from streams.generator.scanner.universe import Ticker, build_universe

PRE_MARKET, REGULAR, POST_MARKET = "PRE_MARKET", "REGULAR", "POST_MARKET"


@dataclass
class _Path:
    ticker: Ticker
    prev_close: float
    prices: array  # rounded, per step
    volumes: array  # cumulative since 04:00 (floats; whole shares when shown)
    abs_change: array  # |price / prev_close - 1|, the ranking key
    gap_at_open: float  # % from the previous close to the first regular-session price
    _seen_to: int = -1
    _high: float = 0.0
    _low: float = 0.0

    def extremes(self, i: int) -> tuple[float, float]:
        """High and low since 04:00 up to step ``i`` (steps are asked for in increasing order)."""
        if i > self._seen_to:
            fresh = self.prices[self._seen_to + 1 : i + 1]
            if self._seen_to < 0:
                self._high, self._low = max(fresh), min(fresh)
            else:
                self._high, self._low = max(self._high, max(fresh)), min(self._low, min(fresh))
            self._seen_to = i
        return self._high, self._low


@dataclass
class ScannerDay:
    nyse: NyseDay
    times: list[int]
    sessions: list[str]
    paths: list[_Path]
    news: list[dict[str, Any]]
    expected_share: list[float]  # cumulative share of an average day's volume expected by each step

    def describe(self) -> dict[str, Any]:
        return {
            "early_close": self.nyse.early_close,
            "pre_market": {"start": iso(self.nyse.pre_market.start), "end": iso(self.nyse.pre_market.end)},
            "regular": {"start": iso(self.nyse.regular.start), "end": iso(self.nyse.regular.end)},
            "post_market": {"start": iso(self.nyse.post_market.start), "end": iso(self.nyse.post_market.end)},
            "snapshots": len(self.times),
            "news": self.news,
        }

    def records(self) -> Iterator[dict[str, Any]]:
        columns = zip(*(p.abs_change for p in self.paths), strict=True)
        order = range(len(self.paths))
        for i, (t, session, column) in enumerate(zip(self.times, self.sessions, columns, strict=True)):
            top = sorted(order, key=column.__getitem__, reverse=True)[: SCANNER.top_n]
            stamp = iso(t)
            yield {
                "event_id": f"{SCANNER_NAME}:{t}",
                "event_time": stamp,
                "scanner": SCANNER_NAME,
                "session": session,
                "taken_at": stamp,
                "rows": [self._row(self.paths[k], i, session) for k in top],
            }

    def _row(self, path: _Path, i: int, session: str) -> dict[str, Any]:
        price = path.prices[i]
        prev = path.prev_close
        ticker = path.ticker
        change = round((price / prev - 1.0) * 100.0, 2)
        volume = int(path.volumes[i])
        high, low = path.extremes(i)
        return {
            "ticker": ticker.symbol,
            "price": price,
            "prev_close": prev,
            "change_pct": change,
            "gap_pct": change if session == PRE_MARKET else path.gap_at_open,
            "volume": volume,
            "avg_volume": ticker.avg_volume,
            "relative_volume": round(volume / (ticker.avg_volume * self.expected_share[i]), 2),
            "market_cap": float(round(price * ticker.shares)),
            "float_shares": ticker.float_shares,
            "high": high,
            "low": low,
        }


def _volume_profile(sessions: list[str]) -> list[float]:
    """Share of an average day's volume traded in each 10-second step.

    5 % in pre-market and 5 % in post-market, spread evenly; 90 % in the regular session on a
    U-shaped curve (busiest at the open and the close).
    """
    n_pre, n_regular, n_post = sessions.count(PRE_MARKET), sessions.count(REGULAR), sessions.count(POST_MARKET)
    curve = [1.0 + 10.0 * (k / max(1, n_regular - 1) - 0.5) ** 2 for k in range(n_regular)]
    total = sum(curve)
    regular = iter([0.90 * c / total for c in curve])
    return [0.05 / n_pre if s == PRE_MARKET else 0.05 / n_post if s == POST_MARKET else next(regular) for s in sessions]


def _round_price(x: float) -> float:
    return round(x, 2) if x >= 1.0 else round(x, 4)


# A discretized standard normal sampled with ``Random.choices``: fast, and close enough for
# 10-second returns (news jumps are modelled separately).
_NORMAL = [NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096)]


def _walk(
    rng: random.Random, prev_close: float, sigma_steps: list[float], drift: list[float]
) -> tuple[list[float], list[float], list[float]]:
    """Rounded prices (to the cent; 1/100 cent below $1), |change| from ``prev_close``, and the shocks."""
    shocks = rng.choices(_NORMAL, k=len(sigma_steps))
    increments = [s * z + d for s, z, d in zip(sigma_steps, shocks, drift, strict=True)]
    scale = 100.0 if prev_close >= 1.0 else 10_000.0
    exp = math.exp
    prices = [int(prev_close * exp(x) * scale + 0.5) / scale for x in accumulate(increments)]
    inverse = 1.0 / prev_close
    return prices, [abs(p - prev_close) * inverse for p in prices], shocks


def generate_scanner(rng: random.Random, nyse: NyseDay) -> ScannerDay:
    step = SCANNER.every_s * SECOND
    times = list(range(nyse.pre_market.start, nyse.post_market.end, step))
    sessions = [
        PRE_MARKET if t < nyse.regular.start else REGULAR if t < nyse.regular.end else POST_MARKET for t in times
    ]
    n = len(times)
    open_index = sessions.index(REGULAR)
    close_index = sessions.index(POST_MARKET)
    profile = _volume_profile(sessions)
    expected_share = list(accumulate(profile))
    session_vol = [0.45 if s == PRE_MARKET else 1.0 if s == REGULAR else 0.35 for s in sessions]
    steps_regular = close_index - open_index
    decay = [math.exp(-i / 720.0) for i in range(n)]  # news excitement fades over ~2 hours

    universe = build_universe(SCANNER.universe_size)
    picks = rng.sample(range(len(universe)), 22 + 8 + 6)
    news_at: dict[int, tuple[int, float, str]] = {}
    for j, k in enumerate(picks):
        small = universe[k].small_cap
        up = rng.random() < 0.62
        size = min(1.5, rng.lognormvariate(math.log(0.2), 0.6)) if small else rng.uniform(0.03, 0.12)
        size = max(size, 0.06 if small else 0.03)
        jump = math.log(1.0 + size) if up else math.log(1.0 - min(0.6, size * 0.6))
        if j < 22:
            where, kind = rng.randrange(0, open_index - 60), "pre_market_news"
        elif j < 30:
            where, kind = rng.randrange(open_index + 30, close_index - 60), "intraday_news"
        else:
            where, kind = rng.randrange(close_index + 6, min(n - 60, close_index + 180)), "earnings_after_close"
        news_at[k] = (where, jump, kind)

    paths: list[_Path] = []
    news: list[dict[str, Any]] = []
    for k, ticker in enumerate(universe):
        prev_close = _round_price(ticker.price * math.exp(rng.gauss(0.0, 0.12)))
        daily_vol = rng.uniform(0.04, 0.09) if ticker.small_cap else rng.uniform(0.012, 0.025)
        sigma = daily_vol / math.sqrt(steps_regular)
        overnight = rng.gauss(0.0, daily_vol * 0.4) / open_index
        sigma_steps = [sigma * v for v in session_vol]
        drift = [overnight] * open_index + [0.0] * (n - open_index)
        excitement: list[float] | None = None
        event = news_at.get(k)
        if event is not None:
            where, jump, kind = event
            excite = rng.uniform(6.0, 25.0)
            tail = n - where
            sigma_steps[where:] = [s * (1.0 + 3.0 * d) for s, d in zip(sigma_steps[where:], decay[:tail], strict=True)]
            drift[where] += jump * 0.7
            for i in range(where + 1, min(n, where + 30)):
                drift[i] += jump * 0.3 / 29.0
            excitement = [1.0] * where + [1.0 + excite * d for d in decay[:tail]]
            news.append(
                {
                    "ticker": ticker.symbol,
                    "kind": kind,
                    "at": iso(times[where]),
                    "move_pct": round((math.exp(jump) - 1.0) * 100.0, 1),
                }
            )
        prices, moves, shocks = _walk(rng, prev_close, sigma_steps, drift)
        # Volume follows the intraday profile, busier on big moves (|shock|) and after news.
        avg = float(ticker.avg_volume)
        if excitement is None:
            flow = [avg * p * (0.5 + 0.6 * abs(z)) for p, z in zip(profile, shocks, strict=True)]
        else:
            flow = [avg * p * (0.5 + 0.6 * abs(z)) * e for p, z, e in zip(profile, shocks, excitement, strict=True)]
        paths.append(
            _Path(
                ticker=ticker,
                prev_close=prev_close,
                prices=array("d", prices),
                volumes=array("d", accumulate(flow)),
                abs_change=array("d", moves),
                gap_at_open=round((prices[open_index] / prev_close - 1.0) * 100.0, 2),
            )
        )
    news.sort(key=lambda e: (e["at"], e["ticker"]))
    return ScannerDay(nyse=nyse, times=times, sessions=sessions, paths=paths, news=news, expected_share=expected_share)
