"""Typed configuration of the market-data processors, with the USD/COP seed's values as defaults.

Processors never read the environment: ``streams/`` builds a :class:`MarketDataConfig` (with its
``MERCADO_*`` overrides) and hands it to :func:`processors.marketdata.marketdata_pipeline`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CalendarKind = Literal["colombian_fx", "crypto", "us_equities"]
HOUR_S = 3600


class ColombianFxHours(BaseModel):
    """The USD/COP spot session: Mon–Fri 08:00–12:55 America/Bogota, closed on Colombian holidays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "America/Bogota"
    open: time = time(8, 0)
    close: time = time(12, 55)
    holidays_country: str = "CO"


class UsEquityHours(BaseModel):
    """US equities: pre-market from 04:00, the exchange's regular session, post-market for 4 hours
    after the regular close (16:00–20:00, or 13:00–17:00 on an early close), America/New_York."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "America/New_York"
    exchange: str = "XNYS"
    pre_market_open: time = time(4, 0)
    post_market_hours: int = 4


class CalendarRule(BaseModel):
    """Market-data keys (``venue:symbol``) matching ``pattern`` (``fnmatch``, case-sensitive) trade on
    ``calendar``, whatever their venue's calendar is: e.g. ``*:USD/COP`` from any feed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str
    calendar: CalendarKind


# The calendar of a venue: crypto venues trade around the clock, equity exchanges on their exchange's
# schedule, SET-FX (the Colombian FX market) on its own. Venue names as ccxt spells them for exchanges
# it supports. A venue missing here is not guessed: its ticks are refused (reason ``unknown-venue``)
# until MERCADO_MARKETDATA__VENUE_CALENDARS names it.
DEFAULT_VENUE_CALENDARS: dict[str, CalendarKind] = {
    **dict.fromkeys(
        ("binance", "binanceus", "binanceusdm", "coinbase", "coinbaseexchange", "kraken", "krakenfutures",
         "bitstamp", "bitfinex", "bybit", "okx", "kucoin", "gemini", "htx", "gateio", "bitget", "mexc",
         "deribit", "bitmex", "cryptocom", "upbit", "bithumb", "bitso", "mercado", "buda", "ripio"),
        "crypto",
    ),
    **dict.fromkeys(("nyse", "nasdaq", "arca", "amex", "iex", "cboe", "bats", "xnys", "xnas"), "us_equities"),
    "setfx": "colombian_fx",
}

# Symbol overrides, first match wins: the USD/COP spot session applies to the pair from any source.
DEFAULT_CALENDAR_OVERRIDES: tuple[CalendarRule, ...] = (CalendarRule(pattern="*:USD/COP", calendar="colombian_fx"),)


class UnknownVenueError(ValueError):
    """Venues named in the configuration that have no session calendar (a configuration error)."""

    def __init__(self, missing: list[tuple[str, str]]):
        self.venues = [venue for venue, _ in missing]
        named = ", ".join(f"{venue!r} (named in {where})" for venue, where in missing)
        super().__init__(
            f"venue(s) without a session calendar: {named}; name each in MERCADO_MARKETDATA__VENUE_CALENDARS "
            "(crypto, us_equities or colombian_fx) or cover its symbols with MERCADO_MARKETDATA__CALENDAR_OVERRIDES"
        )


class MarketDataConfig(BaseModel):
    """Everything the market-data pipeline needs to know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # bars: epoch-aligned UTC intervals; every interval is a multiple of the first (the base interval),
    # and the base interval divides an hour (data quality is measured per hour in base bars)
    intervals_s: tuple[int, ...] = (60, 300)
    grace_s: float = 2.0
    price_source: Literal["LAST", "MID"] = "LAST"
    # gaps: a run of empty intervals is reported once it ends, or once it spans this long
    gap_report_max_s: int = 300
    # bounded output: one watermark move reports at most this many Gaps per interval (the rest of the
    # silence as one Gap spanning it) and this many silent data-quality hours (the rest are left out:
    # their Gap reports them); see processors/marketdata/series.py
    max_reports_per_advance: int = 64
    # data quality: ingest latencies are kept per hour as a histogram at this resolution (1 = exact µs)
    latency_resolution_us: int = 1000
    # move alerts
    move_threshold_pct: float = 0.5
    move_window_s: int = 300
    alert_throttle_s: int = 300
    # indicators (TA-Lib defaults)
    sma_period: int = 20
    ema_period: int = 20
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bb_period: int = 20
    bb_stdev: float = 2.0
    atr_period: int = 14
    # calendars: an override matching the key, else the venue's calendar, else the key is refused;
    # venue_calendars add to (and override) DEFAULT_VENUE_CALENDARS
    calendar_overrides: tuple[CalendarRule, ...] = DEFAULT_CALENDAR_OVERRIDES
    venue_calendars: dict[str, CalendarKind] = Field(default_factory=dict)
    colombian_fx: ColombianFxHours = ColombianFxHours()
    us_equities: UsEquityHours = UsEquityHours()

    def __hash__(self) -> int:  # frozen, but a dict field: hash the whole config's JSON
        return hash(self.model_dump_json())

    def venue_calendar(self, venue: str) -> CalendarKind | None:
        return self.venue_calendars.get(venue) or DEFAULT_VENUE_CALENDARS.get(venue)

    def uncovered(self, venue: str, symbols: Iterable[str] = ()) -> bool:
        """True when ticks of ``venue`` would be refused: it has no calendar and its named ``symbols`` (none
        named, or ``*``: any symbol) are not all covered by a calendar override."""
        if self.venue_calendar(venue) is not None:
            return False
        named = tuple(symbols)
        if not named or "*" in named:
            return True
        return not all(any(fnmatchcase(f"{venue}:{s}", rule.pattern) for rule in self.calendar_overrides)
                       for s in named)

    def check_venues(self, named: dict[str, tuple[str, tuple[str, ...]]]) -> None:
        """Start-up check of the venues the configuration names (venue -> (where, symbols)): raises
        :class:`UnknownVenueError` naming every venue without a calendar and where it is named."""
        missing = [(venue, where) for venue, (where, symbols) in sorted(named.items())
                   if self.uncovered(venue, symbols)]
        if missing:
            raise UnknownVenueError(missing)

    @model_validator(mode="after")
    def _check(self) -> MarketDataConfig:
        intervals = self.intervals_s
        if not intervals or any(i <= 0 for i in intervals):
            raise ValueError("intervals_s must be positive and not empty")
        if list(intervals) != sorted(set(intervals)):
            raise ValueError("intervals_s must be strictly increasing")
        base = intervals[0]
        if HOUR_S % base:
            raise ValueError(f"the base interval {base}s must divide an hour")
        if any(i % base for i in intervals):
            raise ValueError(f"every interval must be a multiple of the base interval {base}s")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if self.gap_report_max_s <= 0 or self.move_window_s <= 0 or self.alert_throttle_s < 0:
            raise ValueError("gap_report_max_s and move_window_s must be > 0, alert_throttle_s >= 0")
        if self.max_reports_per_advance < 1:
            raise ValueError("max_reports_per_advance must be >= 1")
        if self.latency_resolution_us < 1:
            raise ValueError("latency_resolution_us must be >= 1")
        if self.move_threshold_pct <= 0:
            raise ValueError("move_threshold_pct must be > 0")
        periods = (self.sma_period, self.ema_period, self.rsi_period, self.bb_period, self.atr_period,
                   self.macd_fast, self.macd_slow)
        if any(p < 2 for p in periods) or self.macd_signal < 1:
            raise ValueError("indicator periods must be >= 2 (the MACD signal period >= 1)")
        if self.macd_fast >= self.macd_slow:
            raise ValueError("macd_fast must be shorter than macd_slow")
        return self

    @property
    def grace_us(self) -> int:
        return round(self.grace_s * 1_000_000)

    @property
    def base_interval_s(self) -> int:
        return self.intervals_s[0]
