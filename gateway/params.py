"""The query and path parameters every route shares: names, time ranges, pages — each with a pattern or a
bound, so a bad value is a 422 naming the parameter before any SQL runs (and SQL only ever sees values as
``$n`` parameters anyway)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Query, Request

# venue, account, retailer, breaker scope parts: letters, digits and _ . - (as the topics' keys use them)
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# symbols: BTC/USDT, USD/COP, AAPL, ES.FUT
SYMBOL = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$"
# retailer SKUs: digits and letters, maybe with - _ .
SKU = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
OPPORTUNITY_ID = r"^opp:[0-9a-f]{20}$"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_OFFSET = 100_000  # deeper pages: narrow the time range instead

Venue = Annotated[str | None, Query(pattern=NAME, description="Only this venue (e.g. binance).")]
Symbol = Annotated[str | None, Query(pattern=SYMBOL, description="Only this symbol (e.g. BTC/USDT).")]
Account = Annotated[str | None, Query(pattern=NAME, description="Only this account (e.g. mm-1).")]
Retailer = Annotated[str | None, Query(pattern=NAME, description="Only this retailer (e.g. falabella).")]
IntervalS = Annotated[int, Query(ge=1, le=7 * 86_400, description="Bar interval in seconds.")]


@dataclass(frozen=True)
class Window:
    """A half-open event-time range [start, end); either end may be open."""

    start: dt.datetime | None
    end: dt.datetime | None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def time_range(
    request: Request,
    start: Annotated[dt.datetime | None, Query(description="From this time on (ISO 8601; no offset: UTC).")] = None,
    end: Annotated[dt.datetime | None, Query(description="Before this time (ISO 8601; no offset: UTC).")] = None,
) -> Window:
    try:
        window = Window(_utc(start), _utc(end))
    except (OverflowError, ValueError):  # an offset that moves the time out of the calendar
        raise HTTPException(400, "start/end: out of the supported range of times") from None
    if window.start and window.end:
        if window.end <= window.start:
            raise HTTPException(400, "end must be after start")
        days = request.app.state.settings.gateway.max_range_days
        if window.end - window.start > dt.timedelta(days=days):
            raise HTTPException(400, f"the range may span at most {days} days; page through shorter ranges")
    return window


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int

    def page(self, rows: list) -> dict:
        """A :class:`~gateway.models.Page` body from ``limit + 1`` fetched rows."""
        more = len(rows) > self.limit
        items = [dict(r) for r in rows[: self.limit]]
        return {"items": items, "limit": self.limit, "offset": self.offset,
                "next_offset": self.offset + self.limit if more else None}  # fmt: skip


def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT}).")] = (
        DEFAULT_LIMIT
    ),
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
) -> Paging:
    return Paging(limit, offset)
