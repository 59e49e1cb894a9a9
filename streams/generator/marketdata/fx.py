"""USD/COP on SET-FX: ticks only inside the Bogota session, busiest right after the open."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from streams.generator.clock import MINUTE, SECOND, iso
from streams.generator.config import FX, FX_SYMBOL, FX_VENUE
from streams.generator.marketdata.calendars import Window
from streams.generator.marketdata.ticks import TickSeries

_LOT_USD = 50_000.0


@dataclass
class FxDay:
    session: Window
    series: TickSeries
    feed_gap: Window

    def describe(self) -> dict[str, str]:
        return {"source": self.series.source, "start": iso(self.feed_gap.start), "end": iso(self.feed_gap.end)}


def _intensity(t: int, session: Window) -> float:
    """Ticks per second relative to the day's average: a burst at the open, a bump before the close."""
    since_open = (t - session.start) / MINUTE
    to_close = (session.end - t) / MINUTE
    return 0.8 + 2.5 * math.exp(-since_open / 8.0) + 0.6 * math.exp(-to_close / 10.0)


def generate_fx(rng: random.Random, session: Window) -> FxDay:
    series = TickSeries(FX_VENUE, FX_SYMBOL)
    seconds = (session.end - session.start) // SECOND
    vol = rng.uniform(FX.daily_vol_low, FX.daily_vol_high) / math.sqrt(seconds)
    log_price = math.log(rng.uniform(FX.price_low + 60.0, FX.price_high - 60.0))
    path = [math.exp(log_price)]
    for _ in range(seconds):
        log_price += vol * rng.gauss(0.0, 1.0)
        path.append(math.exp(log_price))
    gap_start = session.start + rng.randrange(90 * 60, 240 * 60) * SECOND
    feed_gap = Window(gap_start, gap_start + rng.randint(120, 240) * SECOND)

    sequence = rng.randint(1_000_000, 9_000_000)
    t = session.start + int(rng.expovariate(1.0) * FX.mean_gap_s * SECOND / 3.0)
    while t < session.end:
        if t not in feed_gap:
            mid = path[(t - session.start) // SECOND]
            spread = round(rng.uniform(FX.spread_cop_low, FX.spread_cop_high), 2)
            bid = round(mid - spread / 2.0, 2)
            ask = round(bid + spread, 2)
            draw = rng.random()
            last = bid if draw < 0.45 else ask if draw < 0.9 else round((bid + ask) / 2.0, 2)
            lots = max(1, min(40, round(rng.lognormvariate(math.log(5.0), 0.8))))
            series.append(t, bid, ask, last, lots * _LOT_USD, sequence)
            sequence += 1
        t += 1 + int(rng.expovariate(1.0) * FX.mean_gap_s * SECOND / _intensity(t, session))
    return FxDay(session=session, series=series, feed_gap=feed_gap)
