"""Which markets trade on a given day, and when: Colombian FX session and NYSE sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import holidays

from streams.generator.clock import HOUR, local_micros
from streams.generator.config import BOGOTA_TZ, FX, NEW_YORK_TZ, SCANNER


@dataclass(frozen=True)
class Window:
    """A half-open interval of event time in UTC microseconds."""

    start: int
    end: int

    def __contains__(self, us: int) -> bool:
        return self.start <= us < self.end


def colombian_holiday(day: date) -> str | None:
    """The holiday's name when ``day`` is a Colombian public holiday, else ``None``."""
    return holidays.country_holidays("CO", years=day.year).get(day)


def fx_session(day: date) -> Window | None:
    """The USD/COP session (Mon–Fri 08:00–12:55 America/Bogota), or ``None`` when closed."""
    if day.weekday() >= 5 or colombian_holiday(day) is not None:
        return None
    return Window(local_micros(day, FX.session_open, BOGOTA_TZ), local_micros(day, FX.session_close, BOGOTA_TZ))


@dataclass(frozen=True)
class NyseDay:
    pre_market: Window
    regular: Window
    post_market: Window
    early_close: bool


def nyse_day(day: date) -> NyseDay | None:
    """NYSE extended-hours sessions from the XNYS calendar; ``None`` on weekends and holidays."""
    import pandas_market_calendars as pmc  # slow import; only needed here

    schedule = pmc.get_calendar("XNYS").schedule(start_date=day.isoformat(), end_date=day.isoformat())
    if schedule.empty:
        return None
    row = schedule.iloc[0]
    regular_open = int(row["market_open"].value // 1000)
    regular_close = int(row["market_close"].value // 1000)
    normal_close = local_micros(day, time(16, 0), NEW_YORK_TZ)
    pre_open = local_micros(day, SCANNER.pre_market_open, NEW_YORK_TZ)
    return NyseDay(
        pre_market=Window(pre_open, regular_open),
        regular=Window(regular_open, regular_close),
        post_market=Window(regular_close, regular_close + SCANNER.post_market_hours * HOUR),
        early_close=regular_close < normal_close,
    )
