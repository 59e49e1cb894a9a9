"""Market data: ticks → OHLCV bars, session calendars, gaps, backfill revisions, indicators, move alerts
and data-quality figures, per ``venue:symbol`` on event time (pure and deterministic).

``marketdata_pipeline(config)`` reads ``md.ticks.v1`` (PriceTick, Heartbeat, BackfillComplete) and
writes bars, gaps, indicators, quality, late ticks and alerts; one :class:`MarketDataProcessor` per key.

Design decisions, each documented where it is implemented:

* bars — epoch-aligned UTC intervals, clipped to sessions, exact order-independent sums (``bars``);
* closing — per-key watermark (ticks and heartbeats), interval final at end + grace; a later tick is a
  ``LateTick``; off-session ticks make no bar and are counted (``processor``, ``series``);
* gaps — runs of empty session intervals, reported when they end or every ``gap_report_max_s``
  (``gaps``); backfill — revisions of closed intervals fully inside the range (``backfill``);
* indicators — TA-Lib's formulas, streaming (``indicators``); alerts — trailing-window min/max with
  monotonic deques, throttled with step escalation (``alerts``); quality — per UTC hour,
  nearest-rank latency percentiles (``quality``); calendars — ``calendars``.
"""

from processors.marketdata.calendars import (
    AlwaysOpenCalendar,
    CalendarBook,
    ColombianFxCalendar,
    Session,
    SessionCalendar,
    Span,
    UsEquitiesCalendar,
    calendar_book,
)
from processors.marketdata.config import (
    DEFAULT_VENUE_CALENDARS,
    CalendarRule,
    ColombianFxHours,
    MarketDataConfig,
    UsEquityHours,
)
from processors.marketdata.pipeline import marketdata_key, marketdata_pipeline
from processors.marketdata.processor import MarketDataProcessor, tick_price
from processors.marketdata.records import (
    OUTPUT_TOPICS,
)

__all__ = [
    "DEFAULT_VENUE_CALENDARS",
    "OUTPUT_TOPICS",
    "AlwaysOpenCalendar",
    "CalendarBook",
    "CalendarRule",
    "ColombianFxCalendar",
    "ColombianFxHours",
    "MarketDataConfig",
    "MarketDataProcessor",
    "Session",
    "SessionCalendar",
    "Span",
    "UsEquitiesCalendar",
    "UsEquityHours",
    "calendar_book",
    "marketdata_key",
    "marketdata_pipeline",
    "tick_price",
]
