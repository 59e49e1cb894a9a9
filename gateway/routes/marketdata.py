"""Market data: latest prices, bars and indicators by time range, daily summaries, gaps, data quality —
over the sink's ``md_*`` tables and the views of migration 0003 (``latest_market_data``,
``intraday_summary``, ``data_quality_monitor``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from gateway.models import Bar, DailySummary, DataQuality, Gap, IndicatorSet, LatestPrice, Page
from gateway.params import NAME, SYMBOL, IntervalS, Paging, Symbol, Venue, Window, paging, time_range

router = APIRouter(prefix="/marketdata", tags=["market data"])
RequiredVenue = Annotated[str, Query(pattern=NAME, description="The venue (e.g. binance).")]
RequiredSymbol = Annotated[str, Query(pattern=SYMBOL, description="The symbol (e.g. BTC/USDT).")]

PRICES_SQL = """
SELECT venue, symbol, price, as_of, interval_s, price_source, bar_start, revision, event_id
FROM latest_market_data
WHERE ($1::text IS NULL OR venue = $1) AND ($2::text IS NULL OR symbol = $2)
ORDER BY venue, symbol LIMIT $3 OFFSET $4
"""
BARS_SQL = """
SELECT venue, symbol, interval_s, start_time, end_time, open, high, low, close, volume, vwap, tick_count,
       price_source, session, revision, event_id
FROM md_bars
WHERE venue = $1 AND symbol = $2 AND interval_s = $3
  AND ($4::timestamptz IS NULL OR start_time >= $4) AND ($5::timestamptz IS NULL OR start_time < $5)
ORDER BY start_time LIMIT $6 OFFSET $7
"""
INDICATORS_SQL = """
SELECT venue, symbol, interval_s, bar_start, bar_event_id, close, sma, ema, rsi, macd, macd_signal, macd_hist,
       bb_upper, bb_middle, bb_lower, atr, event_id
FROM md_indicators
WHERE venue = $1 AND symbol = $2 AND interval_s = $3
  AND ($4::timestamptz IS NULL OR bar_start >= $4) AND ($5::timestamptz IS NULL OR bar_start < $5)
ORDER BY bar_start, event_id LIMIT $6 OFFSET $7
"""
SUMMARY_SQL = """
SELECT venue, symbol, day, open, high, low, close, change, change_pct, range, volume, vwap, tick_count, bar_count
FROM intraday_summary
WHERE ($1::text IS NULL OR venue = $1) AND ($2::text IS NULL OR symbol = $2)
  AND ($3::date IS NULL OR day >= $3) AND ($4::date IS NULL OR day <= $4)
ORDER BY venue, symbol, day LIMIT $5 OFFSET $6
"""
GAPS_SQL = """
SELECT venue, symbol, interval_s, start_time, end_time, missing_bars, session, event_id, event_time
FROM md_gaps
WHERE ($1::text IS NULL OR venue = $1) AND ($2::text IS NULL OR symbol = $2)
  AND ($3::timestamptz IS NULL OR start_time >= $3) AND ($4::timestamptz IS NULL OR start_time < $4)
ORDER BY start_time, venue, symbol, event_id LIMIT $5 OFFSET $6
"""
QUALITY_SQL = """
SELECT venue, symbol, hour_start, interval_s, expected_bars, present_bars, missing_bars, coverage_pct, tick_count,
       late_ticks, gap_count, gap_bars, max_inter_tick_gap_s, latency_p50_ms, latency_p95_ms, latency_p99_ms
FROM data_quality_monitor
WHERE ($1::text IS NULL OR venue = $1) AND ($2::text IS NULL OR symbol = $2)
  AND ($3::timestamptz IS NULL OR hour_start >= $3) AND ($4::timestamptz IS NULL OR hour_start < $4)
ORDER BY hour_start, venue, symbol, interval_s LIMIT $5 OFFSET $6
"""


@router.get("/prices", response_model=Page[LatestPrice])
async def latest_prices(request: Request, venue: Venue = None, symbol: Symbol = None,
                        page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """The current price of every instrument: the close of its latest bar of its smallest interval."""
    rows = await request.app.state.db.fetch(PRICES_SQL, venue, symbol, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/bars", response_model=Page[Bar])
async def bars(request: Request, venue: RequiredVenue, symbol: RequiredSymbol, interval_s: IntervalS = 60,
               window: Window = Depends(time_range), page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """An instrument's bars of one interval whose start is in [start, end), oldest first (latest revision)."""
    rows = await request.app.state.db.fetch(
        BARS_SQL, venue, symbol, interval_s, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/indicators", response_model=Page[IndicatorSet])
async def indicators(request: Request, venue: RequiredVenue, symbol: RequiredSymbol, interval_s: IntervalS = 60,
                     window: Window = Depends(time_range), page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """An instrument's indicator sets (SMA, EMA, RSI, MACD, Bollinger, ATR) per bar, oldest first."""
    rows = await request.app.state.db.fetch(
        INDICATORS_SQL, venue, symbol, interval_s, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/summary", response_model=Page[DailySummary])
async def daily_summary(
    request: Request, venue: Venue = None, symbol: Symbol = None,
    from_day: Annotated[dt.date | None, Query(description="From this UTC day on.")] = None,
    to_day: Annotated[dt.date | None, Query(description="Up to this UTC day, included.")] = None,
    page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """Daily OHLC, change and volume per instrument (UTC days, from one-minute bars)."""
    rows = await request.app.state.db.fetch(SUMMARY_SQL, venue, symbol, from_day, to_day, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/gaps", response_model=Page[Gap])
async def gaps(request: Request, venue: Venue = None, symbol: Symbol = None, window: Window = Depends(time_range),
               page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """Missing bars detected in session (a gap's start in [start, end))."""
    rows = await request.app.state.db.fetch(
        GAPS_SQL, venue, symbol, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/quality", response_model=Page[DataQuality])
async def data_quality(request: Request, venue: Venue = None, symbol: Symbol = None,
                       window: Window = Depends(time_range), page: Paging = Depends(paging)) -> dict:  # fmt: skip
    """Data quality per instrument and hour: coverage, missing bars, gaps, late ticks, ingest latency."""
    rows = await request.app.state.db.fetch(
        QUALITY_SQL, venue, symbol, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)
