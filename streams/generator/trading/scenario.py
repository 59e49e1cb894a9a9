"""The day's planted episodes for the crypto and trading domains, drawn once and shared.

Ticks, orders and venue health must agree on when the crash happens, which venue lags and which
feed goes quiet, so the episodes are decided here, from their own random stream, before any of
those domains is generated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from streams.generator.clock import HOUR, MINUTE, SECOND, iso, utc_day_start
from streams.generator.config import CRYPTO, CRYPTO_SYMBOLS, CRYPTO_VENUES
from streams.generator.marketdata.calendars import Window


@dataclass(frozen=True)
class Dislocation:
    venue: str
    symbol: str
    window: Window
    offset: float  # signed fraction of the price, e.g. -0.012 is 1.2 % below the others


@dataclass(frozen=True)
class CryptoScenario:
    day: Window
    crash: Window
    crash_drop: dict[str, float]
    quiet_source: str
    quiet_gap: Window
    dislocations: tuple[Dislocation, ...]
    latency_venue: str
    latency_spike: Window
    outage_venue: str
    outage: Window

    def describe(self) -> dict[str, Any]:
        def span(w: Window) -> dict[str, str]:
            return {"start": iso(w.start), "end": iso(w.end)}

        return {
            "crash": {**span(self.crash), "drop": {k: round(v, 4) for k, v in sorted(self.crash_drop.items())}},
            "quiet_gap": {"source": self.quiet_source, **span(self.quiet_gap)},
            "dislocations": [
                {"venue": d.venue, "symbol": d.symbol, "offset": round(d.offset, 5), **span(d.window)}
                for d in self.dislocations
            ],
            "latency_spike": {"venue": self.latency_venue, **span(self.latency_spike)},
            "venue_outage": {"venue": self.outage_venue, **span(self.outage)},
        }


def _overlaps(a: Window, b: Window, margin: int = 0) -> bool:
    return a.start < b.end + margin and b.start < a.end + margin


def draw_crypto_scenario(rng: random.Random, day: date) -> CryptoScenario:
    start = utc_day_start(day)
    whole_day = Window(start, start + 24 * HOUR)

    crash_len = rng.randint(CRYPTO.crash_minutes_low, CRYPTO.crash_minutes_high) * MINUTE
    crash_start = start + 13 * HOUR + rng.randrange(0, 6 * HOUR // SECOND) * SECOND
    crash = Window(crash_start, crash_start + crash_len)
    btc_drop = rng.uniform(CRYPTO.crash_drop_low, CRYPTO.crash_drop_high)
    crash_drop = {"BTC/USDT": btc_drop, "ETH/USDT": btc_drop * rng.uniform(1.15, 1.35)}

    busy = [Window(crash.start - 30 * MINUTE, crash.end + 90 * MINUTE)]

    def free_window(low_h: float, high_h: float, length: int) -> Window:
        while True:
            at = start + int(low_h * HOUR) + rng.randrange(0, int((high_h - low_h) * HOUR) // SECOND) * SECOND
            w = Window(at, at + length)
            if not any(_overlaps(w, b, 10 * MINUTE) for b in busy):
                busy.append(w)
                return w

    quiet_source = f"{rng.choice(CRYPTO_VENUES)}:{rng.choice(CRYPTO_SYMBOLS)}"
    quiet_gap = free_window(1, 22, rng.randint(CRYPTO.quiet_gap_s_low, CRYPTO.quiet_gap_s_high) * SECOND)
    latency_venue = rng.choice(CRYPTO_VENUES)
    latency_spike = free_window(1, 22, rng.randint(12, 20) * MINUTE)
    outage_venue = rng.choice([v for v in CRYPTO_VENUES if v != latency_venue])
    outage = free_window(1, 22, rng.randint(150, 240) * SECOND)

    dislocations = []
    for _ in range(rng.randint(CRYPTO.dislocations_min, CRYPTO.dislocations_max)):
        window = free_window(0.5, 23.5, rng.randint(20, 90) * SECOND)
        size = rng.uniform(0.005, 0.02)
        dislocations.append(
            Dislocation(
                venue=rng.choice(CRYPTO_VENUES),
                symbol=rng.choice(CRYPTO_SYMBOLS),
                window=window,
                offset=size if rng.random() < 0.5 else -size,
            )
        )
    dislocations.sort(key=lambda d: d.window.start)
    return CryptoScenario(
        day=whole_day,
        crash=crash,
        crash_drop=crash_drop,
        quiet_source=quiet_source,
        quiet_gap=quiet_gap,
        dislocations=tuple(dislocations),
        latency_venue=latency_venue,
        latency_spike=latency_spike,
        outage_venue=outage_venue,
        outage=outage,
    )
