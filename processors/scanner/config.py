"""Typed configuration of the scanner pipeline (section ``scanner``, ``MERCADO_SCANNER__*``).

Defaults are what users of US stock scanners expect (issue #21): price >= $1, volume >= 10,000, a print
in the last minute; eight categories; top 100 per session and category persisted hourly and at each
session's close. Filters are inclusive (a price of exactly $1 passes); a category's ``above`` / ``below``
conditions are strict.

Processors never read the environment: ``streams/`` builds a :class:`ScannerConfig` (with its
``MERCADO_*`` overrides) and hands it to :func:`processors.scanner.scanner_pipeline`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from processors.marketdata.config import UsEquityHours

SECOND_US = 1_000_000

# The features a category's score and conditions are built from, per ticker and snapshot:
# change_pct        % change from the session's baseline (pre: previous close; regular: previous close;
#                   post: the regular close)
# change_open_pct   % change from the regular session's first price (0 before it)
# gap_pct           % from the previous close to the first regular-session price (pre: to the last print)
# relative_volume   volume / the ticker's average (the feed's value when it gives one; 0 when unknown)
# log_volume        log10(1 + volume)
# momentum_pct      % change from the ticker's price in the previous snapshot that listed it (0 the first time)
# high_distance_pct % below the day's high; low_distance_pct % above the day's low
# at_high, at_low   1 when the price is the day's high (low), else 0
Feature = Literal[
    "change_pct", "change_open_pct", "gap_pct", "relative_volume", "log_volume", "momentum_pct",
    "high_distance_pct", "low_distance_pct", "at_high", "at_low",
]
FEATURES: tuple[str, ...] = Feature.__args__  # type: ignore[attr-defined]


class CategoryRule(BaseModel):
    """A category: who is in it (every ``above`` feature strictly above, every ``below`` strictly below its
    value, after the filters) and the score it ranks by (sum of weight x feature, highest first; ties by
    ticker)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[Feature, float]
    above: dict[Feature, float] = Field(default_factory=dict)
    below: dict[Feature, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CategoryRule:
        if not self.weights:
            raise ValueError("a category needs at least one weight")
        return self


DEFAULT_CATEGORIES: dict[str, CategoryRule] = {
    "top_gainers": CategoryRule(weights={"change_pct": 1.0}, above={"change_pct": 0.0}),
    "top_losers": CategoryRule(weights={"change_pct": -1.0}, below={"change_pct": 0.0}),
    "gappers_up": CategoryRule(weights={"gap_pct": 1.0}, above={"gap_pct": 2.0}),
    "gappers_down": CategoryRule(weights={"gap_pct": -1.0}, below={"gap_pct": -2.0}),
    "unusual_volume": CategoryRule(weights={"relative_volume": 1.0}, above={"relative_volume": 2.0}),
    "most_active": CategoryRule(weights={"log_volume": 1.0}),
    "momentum": CategoryRule(weights={"momentum_pct": 1.0, "change_pct": 0.1},
                             above={"at_high": 0.5, "momentum_pct": 0.0}),
    "new_lows": CategoryRule(weights={"momentum_pct": -1.0, "change_pct": -0.1},
                             above={"at_low": 0.5}, below={"momentum_pct": 0.0}),
}


class ScannerConfig(BaseModel):
    """Everything the scanner pipeline needs to know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # sessions: the market-data pipeline's US equity calendar (processors/marketdata/calendars.py)
    us_equities: UsEquityHours = UsEquityHours()
    # filters (inclusive)
    min_price: float = Field(1.0, ge=0)
    max_price: float | None = Field(None, gt=0)
    min_volume: int = Field(10_000, ge=0)
    min_relative_volume: float = Field(0.0, ge=0, description="0: no relative-volume filter")
    stale_after_s: float = Field(60.0, gt=0, description="a ticker whose last print is older is left out")
    # categories and the board
    categories: dict[str, CategoryRule] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    board_size: int = Field(100, ge=1, description="tickers kept per session and category (the hot board)")
    summary_top: int = Field(10, ge=1, description="tickers per category in the ScanBoard summary")
    # per scanner and day; rows of further tickers are refused. The state is ~125 bytes per ticker and the live
    # worker saves it as one changelog record, which Kafka bounds at 1 MB by default: 6,000 leaves room
    max_tickers: int = Field(6_000, ge=1)
    # alerts (throttled per ticker and kind)
    alert_throttle_s: float = Field(300.0, ge=0)
    gap_alert_pct: float = Field(5.0, gt=0, description="|gap %| reaching it alerts (on the crossing)")
    rvol_spike: float = Field(5.0, gt=0, description="relative volume reaching it alerts (on the crossing)")
    halt_after_s: float = Field(300.0, gt=0, description="listed without a print this long: halted")
    # persistence (the cold path): top N per session and category, every persist_every_s of event time
    # (epoch-aligned) while a session is open, and at its close
    persist_top_n: int = Field(100, ge=1)
    persist_every_s: int = Field(3600, ge=60)
    snapshot_every_s: float = Field(
        10.0, gt=0, description="the scanner's cadence: a snapshot within it of a session's end is its last, and "
        "the close is persisted right after it")

    def __hash__(self) -> int:  # frozen, but dict fields: hash the whole config's JSON
        return hash(self.model_dump_json())

    @model_validator(mode="after")
    def _check(self) -> ScannerConfig:
        if not self.categories:
            raise ValueError("at least one category")
        if self.max_price is not None and self.max_price < self.min_price:
            raise ValueError("max_price must be >= min_price")
        if self.persist_top_n > self.board_size:
            raise ValueError("persist_top_n must be <= board_size (the board holds what is persisted)")
        if self.summary_top > self.board_size:
            raise ValueError("summary_top must be <= board_size")
        return self

    @property
    def stale_after_us(self) -> int:
        return round(self.stale_after_s * SECOND_US)

    @property
    def halt_after_us(self) -> int:
        return round(self.halt_after_s * SECOND_US)

    @property
    def alert_throttle_us(self) -> int:
        return round(self.alert_throttle_s * SECOND_US)

    @property
    def persist_every_us(self) -> int:
        return self.persist_every_s * SECOND_US

    @property
    def snapshot_every_us(self) -> int:
        return round(self.snapshot_every_s * SECOND_US)
