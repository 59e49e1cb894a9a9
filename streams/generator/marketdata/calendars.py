"""Which markets trade on a given day, and when: Colombian FX session and NYSE sessions.

The hours are the market-data pipeline's (:mod:`processors.marketdata.config`, computed by
:mod:`processors.marketdata.calendars`), so the generated day trades exactly when the pipeline
expects a session; this module only picks one day's sessions out of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache

import holidays

from processors.marketdata.calendars import ColombianFxCalendar, UsEquitiesCalendar
from processors.marketdata.config import ColombianFxHours, UsEquityHours
from streams.generator.clock import local_micros

FX_HOURS = ColombianFxHours()
NYSE_HOURS = UsEquityHours()
NYSE_NORMAL_CLOSE = time(16, 0)  # a regular session closing earlier is an early close


@dataclass(frozen=True)
class Window:
    """A half-open interval of event time in UTC microseconds."""

    start: int
    end: int

    def __contains__(self, us: int) -> bool:
        return self.start <= us < self.end


@lru_cache(maxsize=1)
def _fx_calendar() -> ColombianFxCalendar:
    return ColombianFxCalendar(FX_HOURS)


@lru_cache(maxsize=1)
def _nyse_calendar() -> UsEquitiesCalendar:
    return UsEquitiesCalendar(NYSE_HOURS)


def colombian_holiday(day: date) -> str | None:
    """The holiday's name when ``day`` is a Colombian public holiday, else ``None``."""
    return holidays.country_holidays(FX_HOURS.holidays_country, years=day.year).get(day)


def fx_session(day: date) -> Window | None:
    """The USD/COP session (Mon–Fri 08:00–12:55 America/Bogota), or ``None`` when closed."""
    session = _fx_calendar().span_at(local_micros(day, FX_HOURS.open, FX_HOURS.timezone)).session
    return None if session is None else Window(session.start, session.end)


@dataclass(frozen=True)
class NyseDay:
    pre_market: Window
    regular: Window
    post_market: Window
    early_close: bool


def nyse_day(day: date) -> NyseDay | None:
    """NYSE extended-hours sessions from the XNYS calendar; ``None`` on weekends and holidays."""
    tz = NYSE_HOURS.timezone
    sessions = {s.name: s for s in _nyse_calendar().sessions_between(
        local_micros(day, time(0), tz), local_micros(day + timedelta(days=1), time(0), tz))}
    if "regular" not in sessions:
        return None
    pre, regular, post = sessions["pre"], sessions["regular"], sessions["post"]
    return NyseDay(
        pre_market=Window(pre.start, pre.end),
        regular=Window(regular.start, regular.end),
        post_market=Window(post.start, post.end),
        early_close=regular.end < local_micros(day, NYSE_NORMAL_CLOSE, tz),
    )
