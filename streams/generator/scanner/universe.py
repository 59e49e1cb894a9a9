"""The scanner's universe: well-known US tickers plus deterministic synthetic small caps.

The universe is fixed (the same tickers every day, like a real exchange listing); each day draws
its own previous closes from it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# ticker, approximate price (USD), shares outstanding (millions), float fraction, average daily volume (M)
KNOWN: tuple[tuple[str, float, float, float, float], ...] = (
    ("AAPL", 228.0, 15_200, 0.99, 55.0),
    ("MSFT", 420.0, 7_430, 0.99, 20.0),
    ("NVDA", 135.0, 24_500, 0.96, 250.0),
    ("AMZN", 190.0, 10_500, 0.90, 40.0),
    ("GOOGL", 170.0, 5_870, 0.92, 25.0),
    ("META", 560.0, 2_530, 0.86, 13.0),
    ("TSLA", 250.0, 3_200, 0.87, 90.0),
    ("AMD", 155.0, 1_620, 0.99, 45.0),
    ("NFLX", 700.0, 428, 0.98, 3.5),
    ("INTC", 22.0, 4_310, 0.99, 60.0),
    ("PLTR", 42.0, 2_250, 0.90, 55.0),
    ("SOFI", 10.5, 1_080, 0.98, 45.0),
    ("GME", 22.0, 447, 0.88, 8.0),
    ("AMC", 4.6, 376, 0.99, 20.0),
    ("MARA", 18.5, 295, 0.97, 35.0),
    ("RIOT", 9.5, 322, 0.98, 22.0),
    ("COIN", 210.0, 250, 0.80, 9.0),
    ("HOOD", 25.0, 885, 0.75, 20.0),
    ("NIO", 5.2, 2_070, 0.90, 50.0),
    ("LCID", 3.1, 3_000, 0.40, 25.0),
    ("RIVN", 11.0, 1_010, 0.85, 30.0),
    ("SMCI", 38.0, 586, 0.85, 40.0),
    ("MU", 105.0, 1_110, 0.99, 22.0),
    ("AVGO", 170.0, 4_670, 0.97, 25.0),
    ("ORCL", 170.0, 2_770, 0.58, 8.0),
    ("CRM", 290.0, 956, 0.97, 6.0),
    ("ADBE", 510.0, 443, 0.99, 3.0),
    ("UBER", 75.0, 2_100, 0.99, 18.0),
    ("ABNB", 135.0, 634, 0.80, 5.0),
    ("SHOP", 80.0, 1_290, 0.93, 9.0),
    ("SNAP", 10.5, 1_660, 0.75, 28.0),
    ("PYPL", 78.0, 1_020, 0.99, 14.0),
    ("BABA", 95.0, 2_450, 0.99, 18.0),
    ("F", 10.8, 3_990, 0.98, 55.0),
    ("GM", 48.0, 1_100, 0.99, 14.0),
    ("BAC", 40.0, 7_770, 0.99, 35.0),
    ("JPM", 215.0, 2_840, 0.99, 9.0),
    ("XOM", 118.0, 4_400, 0.99, 15.0),
    ("PFE", 28.0, 5_670, 0.99, 35.0),
    ("DIS", 95.0, 1_810, 0.99, 9.0),
    ("BA", 155.0, 616, 0.99, 8.0),
    ("WMT", 82.0, 8_030, 0.55, 16.0),
    ("KO", 70.0, 4_310, 0.99, 13.0),
    ("NKE", 80.0, 1_500, 0.82, 11.0),
    ("SBUX", 97.0, 1_130, 0.99, 9.0),
    ("MSTR", 240.0, 200, 0.88, 15.0),
    ("CVNA", 230.0, 120, 0.75, 3.5),
    ("DKNG", 38.0, 482, 0.95, 9.0),
    ("AFRM", 45.0, 310, 0.90, 9.0),
    ("UPST", 60.0, 89, 0.90, 6.0),
    ("RBLX", 45.0, 640, 0.85, 8.0),
    ("ROKU", 70.0, 145, 0.90, 5.0),
    ("PLUG", 2.2, 870, 0.98, 45.0),
    ("FCEL", 0.45, 450, 0.99, 20.0),
    ("SIRI", 25.0, 340, 0.80, 8.0),
    ("CHPT", 1.4, 430, 0.95, 15.0),
    ("OPEN", 1.9, 710, 0.90, 18.0),
    ("TLRY", 1.6, 900, 0.99, 30.0),
    ("SNDL", 2.0, 265, 0.99, 8.0),
    ("GRAB", 4.7, 3_940, 0.90, 25.0),
    ("IONQ", 15.0, 215, 0.90, 12.0),
    ("RGTI", 1.5, 190, 0.95, 25.0),
    ("QUBT", 1.8, 110, 0.90, 20.0),
    ("BBAI", 2.4, 250, 0.90, 15.0),
    ("SOUN", 6.5, 370, 0.90, 35.0),
    ("ACHR", 4.8, 340, 0.80, 15.0),
    ("JOBY", 5.6, 720, 0.70, 10.0),
    ("LUNR", 8.5, 110, 0.80, 12.0),
    ("RKLB", 12.0, 490, 0.85, 20.0),
    ("HIMS", 22.0, 218, 0.85, 12.0),
    ("CELH", 30.0, 235, 0.80, 8.0),
    ("ENPH", 90.0, 135, 0.99, 4.0),
    ("TGT", 150.0, 462, 0.99, 4.0),
    ("DELL", 120.0, 700, 0.45, 7.0),
    ("ARM", 140.0, 1_050, 0.10, 7.0),
    ("CCL", 20.0, 1_270, 0.90, 25.0),
    ("AAL", 11.5, 657, 0.99, 30.0),
    ("LYFT", 13.0, 400, 0.90, 14.0),
)


@dataclass(frozen=True)
class Ticker:
    symbol: str
    price: float  # typical price level
    shares: int
    float_shares: int
    avg_volume: int
    small_cap: bool


def build_universe(size: int) -> list[Ticker]:
    rng = random.Random(1_987_10_19)  # fixed: the universe is the same for every seed
    out = [
        Ticker(symbol, price, int(shares * 1e6), int(shares * 1e6 * float_pct), int(volume * 1e6), shares * price < 2e3)
        for symbol, price, shares, float_pct, volume in KNOWN
    ]
    taken = {t.symbol for t in out}
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while len(out) < size:
        symbol = "".join(rng.choice(letters) for _ in range(rng.choice((3, 4, 4, 4))))
        if symbol in taken:
            continue
        taken.add(symbol)
        price = round(min(400.0, max(0.3, rng.lognormvariate(2.3, 1.2))), 2)
        shares = int(rng.lognormvariate(4.2, 1.1) * 1e6)
        float_shares = int(shares * rng.uniform(0.35, 0.98))
        turnover = rng.lognormvariate(-4.6, 0.9)  # fraction of the float traded on an average day
        avg_volume = max(50_000, int(float_shares * turnover))
        out.append(Ticker(symbol, price, shares, float_shares, avg_volume, shares * price < 2e9))
    return out
