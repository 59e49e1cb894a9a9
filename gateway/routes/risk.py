"""The market maker's risk: positions and PnL, breakers and their history, trading states, the risk gate's
order decisions, and every pipeline's alerts — over the views of migration 0004 (the trading-state,
breaker and PnL queries are ``mercado risk status``'s, from queries/risk.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from gateway.models import (
    AccountPnl,
    Alert,
    BreakerStatus,
    BreakerTransition,
    OrderDecision,
    Page,
    Position,
    TradingState,
)
from gateway.params import NAME, Account, Paging, Symbol, Venue, Window, paging, time_range
from queries.risk import BREAKERS_SQL, PNL_SQL, STATES_SQL

router = APIRouter(prefix="/risk", tags=["risk"])
alerts_router = APIRouter(tags=["alerts"])

POSITIONS_SQL = """
SELECT account, venue, symbol, side, quantity, average_price, mark_price, market_value, realized_pnl, fees,
       unrealized_pnl, net_pnl, equity, peak_equity, drawdown_bps, as_of
FROM risk_current_positions
WHERE ($1::text IS NULL OR account = $1) AND ($2::text IS NULL OR venue = $2) AND ($3::text IS NULL OR symbol = $3)
  AND (NOT $4::boolean OR side <> 'FLAT')
ORDER BY account, venue, symbol LIMIT $5 OFFSET $6
"""
PNL_PAGE_SQL = f"SELECT * FROM ({PNL_SQL}) p WHERE $1::text IS NULL OR account = $1 ORDER BY account LIMIT $2 OFFSET $3"
STATES_PAGE_SQL = f"SELECT * FROM ({STATES_SQL}) s ORDER BY venue, account LIMIT $2 OFFSET $3"
BREAKERS_PAGE_SQL = f"SELECT * FROM ({BREAKERS_SQL}) b ORDER BY venue, breaker, scope LIMIT $2 OFFSET $3"
TRANSITIONS_SQL = """
SELECT event_id, event_time, venue, breaker, scope, account, symbol, from_state, to_state, value, threshold, unit,
       consecutive_violations, cooldown_ms, open_until, caused_by
FROM risk_breaker_transitions
WHERE ($1::text IS NULL OR venue = $1) AND ($2::text IS NULL OR breaker = $2)
  AND ($3::timestamptz IS NULL OR event_time >= $3) AND ($4::timestamptz IS NULL OR event_time < $4)
ORDER BY event_time, sink_seq LIMIT $5 OFFSET $6
"""
DECISIONS_SQL = """
SELECT event_id, event_time, account, venue, symbol, client_order_id, decision, reason, message, side, quantity,
       price, reference_price, notional, trading_state
FROM risk_order_decisions
WHERE ($1::text IS NULL OR account = $1) AND ($2::text IS NULL OR venue = $2) AND ($3::text IS NULL OR symbol = $3)
  AND ($4::text IS NULL OR decision = $4)
  AND ($5::timestamptz IS NULL OR event_time >= $5) AND ($6::timestamptz IS NULL OR event_time < $6)
ORDER BY event_time, event_id LIMIT $7 OFFSET $8
"""
ALERTS_SQL = """
SELECT event_id, event_time, alert_key, source, kind, level, message, value, threshold, suppressed_count, caused_by,
       details
FROM alerts
WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR level = $2) AND ($3::text IS NULL OR kind = $3)
  AND ($4::timestamptz IS NULL OR event_time >= $4) AND ($5::timestamptz IS NULL OR event_time < $5)
ORDER BY event_time, event_id LIMIT $6 OFFSET $7
"""


@router.get("/positions", response_model=Page[Position])
async def positions(
    request: Request, account: Account = None, venue: Venue = None, symbol: Symbol = None,
    open_only: Annotated[bool, Query(description="Leave flat positions out.")] = False,
    page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """Every position ever traded with its PnL (quote currency): net = realized - fees + unrealized."""
    rows = await request.app.state.db.fetch(
        POSITIONS_SQL, account, venue, symbol, open_only, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/pnl", response_model=Page[AccountPnl])
async def pnl(request: Request, account: Account = None, page: Paging = Depends(paging)) -> dict:
    """PnL per account: sums over its positions (quote currency)."""
    rows = await request.app.state.db.fetch(PNL_PAGE_SQL, account, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/breakers", response_model=Page[BreakerStatus])
async def breakers(request: Request, venue: Venue = None, page: Paging = Depends(paging)) -> dict:
    """Every circuit breaker's state after its latest transition."""
    rows = await request.app.state.db.fetch(BREAKERS_PAGE_SQL, [venue] if venue else None, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/breakers/history", response_model=Page[BreakerTransition])
async def breaker_history(
    request: Request, venue: Venue = None,
    breaker: Annotated[str | None, Query(pattern=NAME, description="Only this breaker kind.")] = None,
    window: Window = Depends(time_range), page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """Breaker transitions (CLOSED / OPEN / HALF_OPEN), oldest first."""
    rows = await request.app.state.db.fetch(
        TRANSITIONS_SQL, venue, breaker, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/trading-states", response_model=Page[TradingState])
async def trading_states(request: Request, venue: Venue = None, page: Paging = Depends(paging)) -> dict:
    """The trading state (ACTIVE, REDUCING, HALTED) of every account seen on each venue."""
    rows = await request.app.state.db.fetch(STATES_PAGE_SQL, [venue] if venue else None, page.limit + 1, page.offset)
    return page.page(rows)


@router.get("/orders", response_model=Page[OrderDecision])
async def order_decisions(
    request: Request, account: Account = None, venue: Venue = None, symbol: Symbol = None,
    decision: Annotated[Literal["APPROVED", "REJECTED"] | None, Query(description="Only this decision.")] = None,
    window: Window = Depends(time_range), page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """The risk gate's decision on every submitted order (approved, or rejected and why), oldest first."""
    rows = await request.app.state.db.fetch(
        DECISIONS_SQL, account, venue, symbol, decision, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@alerts_router.get("/alerts", response_model=Page[Alert])
async def alerts(
    request: Request,
    source: Annotated[str | None, Query(pattern=NAME, description="Only this source (marketdata, risk).")] = None,
    level: Annotated[Literal["INFO", "WARNING", "ERROR", "CRITICAL"] | None, Query()] = None,
    kind: Annotated[str | None, Query(pattern=NAME, description="Only this kind (e.g. price_move).")] = None,
    window: Window = Depends(time_range), page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """Alerts of every pipeline, oldest first."""
    rows = await request.app.state.db.fetch(
        ALERTS_SQL, source, level, kind, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)
