"""The generator's fixed parameters: venues, symbols, sessions, sizes, episode ranges.

They are constants on purpose (not environment overrides): the same seed and day must give the
same bytes on every machine, so nothing outside the call's arguments may change the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal

ACCOUNT = "mm-1"
CRYPTO_VENUES: tuple[str, ...] = ("binance", "kraken", "coinbase")
CRYPTO_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
FX_VENUE = "setfx"
FX_SYMBOL = "USD/COP"
RETAILERS: tuple[str, ...] = ("falabella", "ripley", "paris", "hites", "abcdin")
SCANNER_NAME = "gappers"

# Market hours (USD/COP, NYSE) are the market-data pipeline's: processors/marketdata/config.py,
# read by streams/generator/marketdata/calendars.py.
SANTIAGO_TZ = "America/Santiago"


@dataclass(frozen=True)
class FxConfig:
    price_low: float = 3_900.0
    price_high: float = 4_400.0
    daily_vol_low: float = 0.005
    daily_vol_high: float = 0.010
    mean_gap_s: float = 2.0
    spread_cop_low: float = 1.0
    spread_cop_high: float = 5.0


@dataclass(frozen=True)
class CryptoConfig:
    mean_gap_s: float = 2.6
    heartbeat_every_s: int = 5
    dislocations_min: int = 4
    dislocations_max: int = 6
    quiet_gap_s_low: int = 570
    quiet_gap_s_high: int = 660
    crash_drop_low: float = 0.045
    crash_drop_high: float = 0.065
    crash_minutes_low: int = 20
    crash_minutes_high: int = 35


@dataclass(frozen=True)
class MarketMakerConfig:
    starting_equity_usdt: Decimal = Decimal("100000")
    mean_cycle_s: float = 400.0
    half_spread_bps_low: float = 2.0
    half_spread_bps_high: float = 6.0
    inventory_cap_usdt: float = 60_000.0  # per venue, both symbols: beyond it the venue refuses
    soft_inventory_usdt: float = 12_000.0  # per venue:symbol: quotes lean fully against inventory
    probe_every_s: int = 10


@dataclass(frozen=True)
class ScannerConfig:
    universe_size: int = 500
    every_s: int = 10
    top_n: int = 50


@dataclass(frozen=True)
class RetailConfig:
    crawl_start: time = time(8, 0)
    crawl_end: time = time(9, 0)
    reobserve_start: time = time(12, 0)
    reobserve_end: time = time(19, 30)
    reobserved_low: int = 260
    reobserved_high: int = 340
    glitches_low: int = 7
    glitches_high: int = 10


FX = FxConfig()
CRYPTO = CryptoConfig()
MARKET_MAKER = MarketMakerConfig()
SCANNER = ScannerConfig()
RETAIL = RetailConfig()
