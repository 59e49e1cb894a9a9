"""Crypto feeds: one shared price path per symbol, seen by three venues with basis noise.

The path is a geometric random walk on a one-second grid with a time-of-day volatility profile,
a sell-off (the scenario's crash) and a partial rebound. Each venue samples it at irregular
instants, adds a small mean-reverting basis, and, during a dislocation, an offset of its own.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from streams.generator.clock import HOUR, SECOND
from streams.generator.config import CRYPTO, CRYPTO_SYMBOLS, CRYPTO_VENUES
from streams.generator.marketdata.ticks import TickSeries
from streams.generator.trading.scenario import CryptoScenario

_START_PRICE = {"BTC/USDT": (62_000.0, 98_000.0), "ETH/USDT": (2_100.0, 3_900.0)}
_DAILY_VOL = {"BTC/USDT": (0.02, 0.03), "ETH/USDT": (0.028, 0.04)}
_ETH_BTC_CORRELATION = 0.8
# Typical half of the bid/ask spread, in basis points, per venue and symbol.
_HALF_SPREAD_BPS = {
    ("binance", "BTC/USDT"): 0.05,
    ("binance", "ETH/USDT"): 0.1,
    ("kraken", "BTC/USDT"): 0.6,
    ("kraken", "ETH/USDT"): 0.9,
    ("coinbase", "BTC/USDT"): 0.3,
    ("coinbase", "ETH/USDT"): 0.5,
}
_VENUE_BIAS_BPS = {"binance": 0.0, "kraken": -0.4, "coinbase": 0.6}
_TYPICAL_VOLUME = {"BTC/USDT": (0.015, 5), "ETH/USDT": (0.25, 4)}  # median, decimals


def _activity(hour: int) -> float:
    """Relative trading activity by UTC hour (Asia, Europe, US overlap, late US)."""
    if hour < 7:
        return 0.8
    if hour < 13:
        return 1.0
    if hour < 21:
        return 1.3
    return 0.9


@dataclass
class CryptoDay:
    paths: dict[str, list[float]]  # symbol -> price per second of the day (86,400 + 1 points)
    series: list[TickSeries]  # ordered as venues x symbols
    day_start: int

    def feed(self, venue: str, symbol: str) -> TickSeries:
        for s in self.series:
            if s.venue == venue and s.symbol == symbol:
                return s
        raise KeyError(f"{venue}:{symbol}")


def _paths(rng: random.Random, scenario: CryptoScenario) -> dict[str, list[float]]:
    seconds = (scenario.day.end - scenario.day.start) // SECOND
    crash_from = (scenario.crash.start - scenario.day.start) // SECOND
    crash_to = (scenario.crash.end - scenario.day.start) // SECOND
    rebound_to = crash_to + 3 * 3600
    vols = {s: rng.uniform(*_DAILY_VOL[s]) / math.sqrt(86_400) for s in CRYPTO_SYMBOLS}
    logs = {s: math.log(rng.uniform(*_START_PRICE[s])) for s in CRYPTO_SYMBOLS}
    crash_drift = {s: math.log(1 - scenario.crash_drop[s]) / (crash_to - crash_from) for s in CRYPTO_SYMBOLS}
    rebound_drift = {s: -0.35 * math.log(1 - scenario.crash_drop[s]) / (rebound_to - crash_to) for s in CRYPTO_SYMBOLS}
    rho, other = _ETH_BTC_CORRELATION, math.sqrt(1 - _ETH_BTC_CORRELATION**2)
    btc, eth = CRYPTO_SYMBOLS
    out: dict[str, list[float]] = {s: [math.exp(logs[s])] for s in CRYPTO_SYMBOLS}
    gauss = rng.gauss
    for sec in range(seconds):
        scale = _activity(sec // 3600)
        if crash_from <= sec < crash_to:
            drift = crash_drift
        elif crash_to <= sec < rebound_to:
            scale *= 1.4
            drift = rebound_drift
        else:
            drift = None
        z1 = gauss(0.0, 1.0)
        z2 = rho * z1 + other * gauss(0.0, 1.0)
        logs[btc] += vols[btc] * scale * z1 + (drift[btc] if drift else 0.0)
        logs[eth] += vols[eth] * scale * z2 + (drift[eth] if drift else 0.0)
        out[btc].append(math.exp(logs[btc]))
        out[eth].append(math.exp(logs[eth]))
    return out


def _feed(rng: random.Random, venue: str, symbol: str, path: list[float], scenario: CryptoScenario) -> TickSeries:
    series = TickSeries(venue, symbol)
    day = scenario.day
    source = f"{venue}:{symbol}"
    quiet = scenario.quiet_gap if source == scenario.quiet_source else None
    moves = [(d.window, d.offset) for d in scenario.dislocations if d.venue == venue and d.symbol == symbol]
    half_spread = _HALF_SPREAD_BPS[(venue, symbol)]
    bias = _VENUE_BIAS_BPS[venue]
    median_volume, volume_decimals = _TYPICAL_VOLUME[symbol]
    min_volume = 10.0**-volume_decimals
    log_median = math.log(median_volume)
    mean_gap_us = CRYPTO.mean_gap_s * SECOND
    sequence = rng.randint(100_000_000, 900_000_000)
    basis = 0.0
    t = day.start + int(rng.expovariate(1.0) * mean_gap_us)
    while t < day.end:
        in_crash = t in scenario.crash
        if quiet is None or t not in quiet:
            mid = path[(t - day.start) // SECOND]
            basis = 0.98 * basis + rng.gauss(0.0, 0.25)
            offset = (bias + basis) / 1e4
            stress = 1.0
            for window, shift in moves:
                if t in window:
                    offset += shift
                    stress = 6.0
            mid *= 1.0 + offset
            spread_bps = half_spread * math.exp(rng.gauss(0.0, 0.5)) * stress
            if in_crash:
                spread_bps *= 4.0
                if rng.random() < 0.02:
                    spread_bps = rng.uniform(10.0, 20.0)
            half = mid * spread_bps / 1e4
            bid = math.floor((mid - half) * 100.0) / 100.0
            ask = max(math.ceil((mid + half) * 100.0) / 100.0, bid + 0.01)
            bid, ask = round(bid, 2), round(ask, 2)
            draw = rng.random()
            last = bid if draw < 0.47 else ask if draw < 0.94 else round((bid + ask) / 2.0, 2)
            volume = max(round(math.exp(rng.gauss(log_median, 1.3)), volume_decimals), min_volume)
            series.append(t, bid, ask, last, volume, sequence)
            sequence += 1
        busy = _activity((t - day.start) // HOUR) * (2.0 if in_crash else 1.0)
        t += 1 + int(rng.expovariate(1.0) * mean_gap_us / busy)
    return series


def generate_crypto(rng: random.Random, scenario: CryptoScenario) -> CryptoDay:
    paths = _paths(rng, scenario)
    series = [
        _feed(rng, venue, symbol, paths[symbol], scenario) for venue in CRYPTO_VENUES for symbol in CRYPTO_SYMBOLS
    ]
    return CryptoDay(paths=paths, series=series, day_start=scenario.day.start)
