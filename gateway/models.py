"""The API's response bodies: one model per kind of row, named after the view or table it comes from.

Money and quantities of the risk pipeline are exact decimals (``numeric`` in PostgreSQL) and travel as
JSON strings, so no client loses digits to a float; market-data prices are floats, as in the events.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of rows; ``next_offset`` is the ``offset`` of the next page, null on the last one."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = None


class Problem(BaseModel):
    """Every 4xx/5xx body (FastAPI's): what was wrong, for people."""

    detail: Any


# --------------------------------------------------------------------------- market data
class LatestPrice(BaseModel):
    venue: str
    symbol: str
    price: float
    as_of: dt.datetime
    interval_s: int
    price_source: str
    bar_start: dt.datetime
    revision: int
    event_id: str


class Bar(BaseModel):
    venue: str
    symbol: str
    interval_s: int
    start_time: dt.datetime
    end_time: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    tick_count: int
    price_source: str
    session: str | None
    revision: int
    event_id: str


class IndicatorSet(BaseModel):
    venue: str
    symbol: str
    interval_s: int
    bar_start: dt.datetime
    bar_event_id: str
    close: float
    sma: float | None
    ema: float | None
    rsi: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    bb_upper: float | None
    bb_middle: float | None
    bb_lower: float | None
    atr: float | None
    event_id: str


class DailySummary(BaseModel):
    venue: str
    symbol: str
    day: dt.date
    open: float
    high: float
    low: float
    close: float
    change: float
    change_pct: float | None
    range: float
    volume: float
    vwap: float | None
    tick_count: int
    bar_count: int


class Gap(BaseModel):
    venue: str
    symbol: str
    interval_s: int
    start_time: dt.datetime
    end_time: dt.datetime
    missing_bars: int
    session: str | None
    event_id: str
    event_time: dt.datetime


class DataQuality(BaseModel):
    venue: str
    symbol: str
    hour_start: dt.datetime
    interval_s: int
    expected_bars: int
    present_bars: int
    missing_bars: int
    coverage_pct: float | None
    tick_count: int
    late_ticks: int
    gap_count: int
    gap_bars: int
    max_inter_tick_gap_s: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None


class Alert(BaseModel):
    event_id: str
    event_time: dt.datetime
    alert_key: str
    source: str
    kind: str
    level: str
    message: str
    value: float | None
    threshold: float | None
    suppressed_count: int
    caused_by: str | None
    details: dict[str, Any]


# --------------------------------------------------------------------------- retail
class Opportunity(BaseModel):
    opportunity_id: str
    status: Literal["OPEN", "CLOSED"] = "OPEN"
    tier: str
    priority: int
    opportunity_score: float
    margin_clp: int
    roi_pct: float
    confidence: float
    risk_level: str
    glitch_suspected: bool
    match_id: str
    buy_listing_key: str
    buy_retailer: str
    buy_title: str
    buy_price: int
    sell_listing_key: str
    sell_retailer: str
    sell_title: str
    sell_price: int
    revision: int
    opened_at: dt.datetime
    updated_at: dt.datetime
    validations: int
    last_validated_at: dt.datetime | None
    next_revalidation: dt.datetime | None
    closed_at: dt.datetime | None = None
    close_reason: str | None = None


class OpportunityCounts(BaseModel):
    """Open opportunities per tier (all of them, not only one page)."""

    by_tier: dict[str, int]
    total: int


class LiveMatch(BaseModel):
    match_id: str
    block_key: str
    listing_a_key: str
    a_retailer: str
    a_title: str
    a_price: int
    listing_b_key: str
    b_retailer: str
    b_title: str
    b_price: int
    score: float
    asserted_at: dt.datetime
    priced_at: dt.datetime


class Glitch(BaseModel):
    event_id: str
    event_time: dt.datetime
    listing_key: str
    retailer: str
    sku: str
    title: str
    category: str
    kind: str
    severity: str
    price_field: str
    price: int
    reference: str
    reference_price: int | None
    change_ratio: float | None
    threshold: float | None
    history_size: int
    affects_current_price: bool


class Listing(BaseModel):
    listing_key: str
    retailer: str
    sku: str
    title: str
    url: str | None
    category: str
    brand: str | None
    model: str | None
    current_price: int
    price_source: str
    price_normal: int | None
    price_offer: int | None
    price_card: int | None
    glitch_kinds: list[str]
    event_time: dt.datetime
    observed_at: dt.datetime


# --------------------------------------------------------------------------- risk
class Position(BaseModel):
    account: str
    venue: str
    symbol: str
    side: Literal["LONG", "SHORT", "FLAT"]
    quantity: Decimal
    average_price: Decimal | None
    mark_price: Decimal | None
    market_value: Decimal | None
    realized_pnl: Decimal
    fees: Decimal
    unrealized_pnl: Decimal
    net_pnl: Decimal
    equity: Decimal | None
    peak_equity: Decimal | None
    drawdown_bps: Decimal | None
    as_of: dt.datetime


class AccountPnl(BaseModel):
    account: str
    positions: int
    open_positions: int
    realized_pnl: Decimal | None
    fees: Decimal | None
    unrealized_pnl: Decimal | None
    net_pnl: Decimal | None


class BreakerStatus(BaseModel):
    venue: str
    breaker: str
    scope: str
    state: str
    since: dt.datetime
    open_until: dt.datetime | None
    last_value: Decimal | None
    threshold: Decimal
    unit: str
    opened: int


class BreakerTransition(BaseModel):
    event_id: str
    event_time: dt.datetime
    venue: str
    breaker: str
    scope: str
    account: str | None
    symbol: str | None
    from_state: str
    to_state: str
    value: Decimal | None
    threshold: Decimal
    unit: str
    consecutive_violations: int
    cooldown_ms: int | None
    open_until: dt.datetime | None
    caused_by: str | None


class TradingState(BaseModel):
    venue: str
    account: str
    state: str
    since: dt.datetime | None
    tripped_breakers: list[str]
    changes: int


class OrderDecision(BaseModel):
    event_id: str
    event_time: dt.datetime
    account: str
    venue: str
    symbol: str
    client_order_id: str
    decision: Literal["APPROVED", "REJECTED"]
    reason: str | None
    message: str | None
    side: str | None
    quantity: Decimal | None
    price: Decimal | None
    reference_price: Decimal | None
    notional: Decimal | None
    trading_state: str | None


# --------------------------------------------------------------------------- scanner
class ScannerLine(BaseModel):
    """A ticker's line on the current board (``scanner.results.v1``) in one category."""

    scanner: str
    trading_day: str
    session: str
    category: str
    rank: int
    score: float
    ticker: str
    price: float
    change_pct: float
    change_open_pct: float | None
    gap_pct: float
    volume: int
    relative_volume: float | None
    day_high: float
    day_low: float
    updated_at: dt.datetime = Field(description="The event time of the snapshot that last changed this line.")


class ScannerBoard(BaseModel):
    """The current board: the top ``top`` lines of each scanner, session and category, in rank order."""

    items: list[ScannerLine]
    top: int
    as_of: dt.datetime | None = Field(description="The latest event time on the board (null: an empty board).")


class ScannerTopEntry(BaseModel):
    """A persisted board line (``scanner_top``): at each interval boundary, each session's close, or manual."""

    event_id: str
    event_time: dt.datetime
    scanner: str
    trading_day: str
    session: str
    category: str
    rank: int
    ticker: str
    score: float
    price: float
    change_pct: float
    gap_pct: float
    volume: int
    relative_volume: float | None
    trigger: str


class TickerPlacement(BaseModel):
    """Where a ticker stood at one persisted instant (``scanner_ticker_history``)."""

    ticker: str
    scanner: str
    trading_day: str
    session: str
    as_of: dt.datetime
    trigger: str
    category: str
    rank: int
    score: float
    price: float
    change_pct: float
    gap_pct: float


# --------------------------------------------------------------------------- recommendations
class RecommendationLatest(BaseModel):
    """A ticker's recommendation of one date (``daily_recommendations``; the latest: ``latest_recommendations``)."""

    analysis_date: str = Field(description="The run's date, YYYY-MM-DD.")
    ticker: str
    market: str
    recommendation: Literal["BUY", "HOLD", "SELL"]
    total_score: float
    confidence: float
    technical_score: float | None
    fundamental_score: float | None
    macro_score: float | None
    sentiment_score: float | None
    current_price: float
    target_price: float
    risk_level: str
    summary: str
    last_bar_date: str
    cutoff: dt.datetime = Field(description="What was known at this instant was used (point in time).")
    inputs_hash: str
    model_version: str
    data_issues: list[str] = Field(description="Inputs excluded since the previous run, with the reason.")


class RecommendationEntry(BaseModel):
    """One date of a ticker's history (``recommendation_history``)."""

    analysis_date: str
    ticker: str
    recommendation: Literal["BUY", "HOLD", "SELL"]
    total_score: float
    confidence: float
    current_price: float
    target_price: float
    risk_level: str
    previous_recommendation: Literal["BUY", "HOLD", "SELL"] | None
    score_change: float | None


class AnalysisDetail(BaseModel):
    """One analysis of a recommendation (``analysis_details``): its inputs, indicators and score."""

    analysis_type: Literal["technical", "fundamental", "macro", "sentiment"]
    score: float | None
    raw_data: dict[str, Any]
    indicators: dict[str, Any]
    metadata: dict[str, Any]


class AnalysisDetails(BaseModel):
    recommendation: RecommendationLatest
    analyses: list[AnalysisDetail]


class JobRunSummary(BaseModel):
    """One run of the job (``job_runs``: its shards' JobRun events added up)."""

    job_name: str
    run_date: str
    start_time: dt.datetime = Field(description="The run's cutoff.")
    end_time: dt.datetime | None = Field(description="When the sink stored the last shard's report (null: running).")
    status: Literal["running", "completed", "failed"]
    shards_reported: int
    shards: int
    tickers_processed: int
    errors_count: int
    log_data: list[Any] | None = Field(description="The errors of each shard that had any, with their reasons.")
    trigger: str
    duration_ms: int | None = Field(
        description="Processing time of the slowest shard, as the live worker measured it (header "
        "mercado-processing-us); null when no shard was timed (a run not made by a live worker).")


# --------------------------------------------------------------------------- system
class Ping(BaseModel):
    pong: Literal[True] = True
    time: dt.datetime


class Version(BaseModel):
    name: str
    version: str
    api: str
    schemas: int = Field(description="Avro record types in the schema registry (schemas/registry.json).")
    pipelines: list[str]


class Check(BaseModel):
    ok: bool
    detail: str
    latency_ms: float | None = None


class ConsumerLag(BaseModel):
    """A consumer group's progress over its input topics: messages behind their ends (commit markers of
    transactional topics count as one message each, so a caught-up worker shows a small number)."""

    group: str
    lag: int | None
    partitions: int
    last_commit: dt.datetime | None = Field(
        None, description="When it last committed its offsets (a worker: the latest time it stored in its offsets' "
        "metadata; the sink: in PostgreSQL); null before its first commit."
    )
    detail: str = ""


class TableStatus(BaseModel):
    table_name: str
    row_count: int
    last_event_time: dt.datetime | None
    last_written_at: dt.datetime | None


class Health(BaseModel):
    ok: bool
    kafka: Check
    postgres: Check
    workers: list[ConsumerLag]
    sink: ConsumerLag | None
    tables: list[TableStatus]
