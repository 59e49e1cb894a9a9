"""The stock scanner: the current board (the compacted ``scanner.results.v1``, kept by the push consumer),
the persisted boards (``scanner_top``, migration 0007) and a ticker's category history (the view
``scanner_ticker_history``).

The board is read once when the process starts (:func:`streams.kafka.compacted.read_latest`, as
``mercado scanner board`` reads it) and then kept up to date from the topic by the push hub's consumer
(gateway/push.py), so a request never reads Kafka; ``rebuild_board`` (processors/scanner/records.py) ranks
it. A process without push (``create_app(push=False)``) has no board: 503.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from gateway.models import Page, ScannerBoard, ScannerTopEntry, TickerPlacement
from gateway.params import NAME, Paging, Window, paging, time_range
from processors.core import Record
from processors.scanner.records import rebuild_board

router = APIRouter(prefix="/scanner", tags=["scanner"])
CATEGORY = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
TICKER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,15}$"
MAX_TOP = 500
Session = Annotated[Literal["PRE_MARKET", "REGULAR", "POST_MARKET"] | None, Query(description="Only this session.")]
Category = Annotated[str | None, Query(pattern=CATEGORY, description="Only this category (e.g. top_gainers).")]
Scanner = Annotated[str | None, Query(pattern=NAME, description="Only this scanner (e.g. gappers).")]

HISTORY_SQL = """
SELECT event_id, event_time, scanner, trading_day, session, category, rank, ticker, score, price, change_pct, gap_pct,
       volume, relative_volume, trigger
FROM scanner_top
WHERE ($1::text IS NULL OR scanner = $1) AND ($2::text IS NULL OR session = $2) AND ($3::text IS NULL OR category = $3)
  AND ($4::text IS NULL OR trigger = $4)
  AND ($5::timestamptz IS NULL OR event_time >= $5) AND ($6::timestamptz IS NULL OR event_time < $6)
ORDER BY event_time, scanner, session, category, rank LIMIT $7 OFFSET $8
"""
TICKER_SQL = """
SELECT ticker, scanner, trading_day, session, as_of, trigger, category, rank, score, price, change_pct, gap_pct
FROM scanner_ticker_history
WHERE ticker = $1 AND ($2::text IS NULL OR scanner = $2) AND ($3::text IS NULL OR session = $3)
  AND ($4::text IS NULL OR category = $4)
  AND ($5::timestamptz IS NULL OR as_of >= $5) AND ($6::timestamptz IS NULL OR as_of < $6)
ORDER BY as_of, scanner, session, category LIMIT $7 OFFSET $8
"""


def ranked(lines: Iterable[Record], *, scanner: str | None = None, session: str | None = None,
           category: str | None = None) -> Iterator[tuple[str, list[Record]]]:  # fmt: skip
    """(category, ScanResult lines in rank order) of each scanner, session and category of the board
    ``lines`` that the filters keep, in (scanner, session, category) order."""
    by_scanner: dict[str, list[Record]] = {}
    for r in lines:
        if (scanner is None or r["scanner"] == scanner) and (session is None or r["session"] == session):
            by_scanner.setdefault(r["scanner"], []).append(r)
    for _name, mine in sorted(by_scanner.items()):
        for _session, categories in sorted(rebuild_board(mine).items()):
            for name, ordered in sorted(categories.items()):
                if category is None or name == category:
                    yield name, ordered


def _time(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def _line(r: Record, category: str) -> dict:
    p = next(p for p in r["categories"] if p["category"] == category)
    return {"scanner": r["scanner"], "trading_day": r["trading_day"], "session": r["session"], "category": category,
            "rank": p["rank"], "score": p["score"], "ticker": r["ticker"], "price": r["price"],
            "change_pct": r["change_pct"], "change_open_pct": r["change_open_pct"], "gap_pct": r["gap_pct"],
            "volume": r["volume"], "relative_volume": r["relative_volume"], "day_high": r["day_high"],
            "day_low": r["day_low"], "updated_at": _time(r["event_time"])}  # fmt: skip


@router.get("/board", response_model=ScannerBoard, responses={503: {"description": "no board in this process"}})
async def board(
    request: Request, session: Session = None, category: Category = None, scanner: Scanner = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description=f"Lines per category (at most {MAX_TOP}).")] = 20,
) -> dict:  # fmt: skip
    """The current board from the compacted topic: the top lines of each scanner, session and category."""
    hub = getattr(request.app.state, "hub", None)
    if hub is None or hub.board is None:
        raise HTTPException(503, "the scanner board is not available on this process"
                            + (f": {hub.board_error}" if hub is not None and hub.board_error else ""))  # fmt: skip
    lines = list(hub.board.values())
    items = [_line(r, name) for name, ordered in ranked(lines, scanner=scanner, session=session, category=category)
             for r in ordered[:top]]  # fmt: skip
    latest = max((r["event_time"] for r in lines), default=None)
    return {"items": items, "top": top,
            "as_of": None if latest is None else _time(latest)}  # fmt: skip


@router.get("/history", response_model=Page[ScannerTopEntry])
async def history(
    request: Request, scanner: Scanner = None, session: Session = None, category: Category = None,
    trigger: Annotated[Literal["interval", "close", "manual"] | None, Query(description="Only this trigger.")] = None,
    window: Window = Depends(time_range), page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """Persisted boards (top N per session and category at each interval boundary, close, or manual run)
    as of [start, end), oldest first, in rank order."""
    rows = await request.app.state.db.fetch(
        HISTORY_SQL, scanner, session, category, trigger, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)


@router.get("/tickers/{ticker}", response_model=Page[TickerPlacement])
async def ticker_history(
    request: Request, ticker: Annotated[str, Path(pattern=TICKER, description="The ticker (e.g. AAPL, BRK.B).")],
    scanner: Scanner = None, session: Session = None, category: Category = None,
    window: Window = Depends(time_range), page: Paging = Depends(paging),
) -> dict:  # fmt: skip
    """A ticker's category history: its category, rank and score at each persisted instant, oldest first
    (an empty page: it never reached a persisted top)."""
    rows = await request.app.state.db.fetch(
        TICKER_SQL, ticker, scanner, session, category, window.start, window.end, page.limit + 1, page.offset
    )
    return page.page(rows)
