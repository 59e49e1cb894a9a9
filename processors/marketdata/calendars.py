"""Trading sessions per market, as half-open UTC intervals of event time in microseconds.

* ``colombian_fx``: USD/COP, Mon–Fri 08:00–12:55 America/Bogota, closed on the holidays of
  ``holidays.country_holidays("CO")`` (session ``regular``).
* ``crypto``: always open (one endless session ``24x7``).
* ``us_equities``: from the exchange's schedule (``pandas_market_calendars``, XNYS by default):
  ``pre`` 04:00 → open, ``regular`` open → close, ``post`` close → close + 4 h, America/New_York;
  exchange holidays have no session, early closes (13:00) move ``post`` to 13:00–17:00.

Sessions are computed a whole local year at a time and cached (``pandas_market_calendars`` is slow),
which is deterministic: the same instant always gets the same answer.
"""

from __future__ import annotations

import bisect
import fnmatch
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays

from processors.admission import Refused
from processors.marketdata.config import CalendarKind, ColombianFxHours, MarketDataConfig, UsEquityHours

FAR_PAST = -(2**62)
FAR_FUTURE = 2**62
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIRST_US = 0
_LAST_US = (datetime(9998, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND


class Session(NamedTuple):
    """One trading session: ``name`` over [start, end) in UTC microseconds."""

    name: str
    start: int
    end: int


class Span(NamedTuple):
    """The longest interval [lo, hi) around an instant during which ``session`` (None: closed) holds."""

    session: Session | None
    lo: int
    hi: int


def utc_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def local_micros(day: date, at: time, zone: ZoneInfo) -> int:
    return utc_micros(datetime.combine(day, at, tzinfo=zone))


def utc_year(t_us: int) -> int:
    """The UTC year of an instant, clamped to 1970–9997 (the sentinels FAR_PAST/FAR_FUTURE included)."""
    return (_EPOCH + timedelta(microseconds=min(max(t_us, _FIRST_US), _LAST_US))).year


class SessionCalendar(ABC):
    """Answers "which session holds at this instant" with spans, so callers can cache the answer."""

    kind: CalendarKind

    @abstractmethod
    def span_at(self, t_us: int) -> Span:
        """The session at ``t_us`` (or None when closed) and the span around it where that holds."""

    @abstractmethod
    def sessions_between(self, lo: int, hi: int) -> list[Session]:
        """The sessions overlapping [lo, hi), in time order."""


class AlwaysOpenCalendar(SessionCalendar):
    kind: CalendarKind = "crypto"
    SESSION = Session("24x7", FAR_PAST, FAR_FUTURE)
    _SPAN = Span(SESSION, FAR_PAST, FAR_FUTURE)

    def span_at(self, t_us: int) -> Span:
        return self._SPAN

    def sessions_between(self, lo: int, hi: int) -> list[Session]:
        return [self.SESSION] if lo < hi else []


class YearlySessionCalendar(SessionCalendar):
    """Sessions built one local calendar year at a time, kept in sorted arrays for bisection."""

    def __init__(self) -> None:
        self._years: set[int] = set()
        self._sessions: list[Session] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    @abstractmethod
    def sessions_of_year(self, year: int) -> list[Session]:
        """Every session whose local trading day falls in ``year``."""

    def _ensure_years(self, t_us: int) -> None:
        year = utc_year(t_us)
        wanted = {year - 1, year, year + 1} - self._years
        if not wanted:
            return
        for y in sorted(wanted):
            self._sessions.extend(self.sessions_of_year(y))
            self._years.add(y)
        self._sessions.sort(key=lambda s: s.start)
        self._starts = [s.start for s in self._sessions]
        self._ends = [s.end for s in self._sessions]

    def span_at(self, t_us: int) -> Span:
        self._ensure_years(t_us)
        i = bisect.bisect_right(self._starts, t_us) - 1
        if i >= 0 and t_us < self._ends[i]:
            return Span(self._sessions[i], self._starts[i], self._ends[i])
        lo = self._ends[i] if i >= 0 else FAR_PAST
        hi = self._starts[i + 1] if i + 1 < len(self._starts) else FAR_FUTURE
        return Span(None, lo, hi)

    def sessions_between(self, lo: int, hi: int) -> list[Session]:
        if lo >= hi:
            return []
        self._ensure_years(lo)
        self._ensure_years(hi)
        first = max(bisect.bisect_right(self._starts, lo) - 1, 0)
        last = bisect.bisect_left(self._starts, hi)
        return [s for s in self._sessions[first:last] if s.end > lo and s.start < hi]


class ColombianFxCalendar(YearlySessionCalendar):
    kind: CalendarKind = "colombian_fx"

    def __init__(self, hours: ColombianFxHours):
        super().__init__()
        self.hours = hours
        self._zone = ZoneInfo(hours.timezone)

    def sessions_of_year(self, year: int) -> list[Session]:
        closed = holidays.country_holidays(self.hours.holidays_country, years=year)
        out: list[Session] = []
        day = date(year, 1, 1)
        while day.year == year:
            if day.weekday() < 5 and day not in closed:
                out.append(Session("regular", local_micros(day, self.hours.open, self._zone),
                                   local_micros(day, self.hours.close, self._zone)))
            day += timedelta(days=1)
        return out


@lru_cache(maxsize=64)
def _exchange_year(exchange: str, year: int) -> tuple[tuple[date, int, int], ...]:
    """(trading day, regular open µs, regular close µs) of every trading day of ``year``."""
    import pandas_market_calendars as pmc  # slow import, only for equities

    schedule = pmc.get_calendar(exchange).schedule(start_date=f"{year}-01-01", end_date=f"{year}-12-31")
    rows = []
    for day, market_open, market_close in zip(
        schedule.index, schedule["market_open"], schedule["market_close"], strict=True
    ):
        rows.append((day.date(), utc_micros(market_open.to_pydatetime()), utc_micros(market_close.to_pydatetime())))
    return tuple(rows)


class UsEquitiesCalendar(YearlySessionCalendar):
    kind: CalendarKind = "us_equities"

    def __init__(self, hours: UsEquityHours):
        super().__init__()
        self.hours = hours
        self._zone = ZoneInfo(hours.timezone)

    def sessions_of_year(self, year: int) -> list[Session]:
        post_us = self.hours.post_market_hours * 3_600_000_000
        out: list[Session] = []
        for day, regular_open, regular_close in _exchange_year(self.hours.exchange, year):
            pre_open = local_micros(day, self.hours.pre_market_open, self._zone)
            if pre_open < regular_open:
                out.append(Session("pre", pre_open, regular_open))
            out.append(Session("regular", regular_open, regular_close))
            if post_us > 0:
                out.append(Session("post", regular_close, regular_close + post_us))
        return out


class CalendarBook:
    """The calendar of each symbol, by the config's rules; one calendar object per kind, shared."""

    def __init__(self, config: MarketDataConfig):
        self.config = config
        self._by_kind: dict[str, SessionCalendar] = {}

    def kind_of(self, venue: str, symbol: str) -> CalendarKind:
        """The first override whose pattern matches ``venue:symbol``, else the venue's calendar; a venue
        with neither is refused (:class:`~processors.admission.Refused`, reason ``unknown-venue``): a
        guess would put a crypto pair on stock-market hours or the reverse."""
        key = f"{venue}:{symbol}"
        for rule in self.config.calendar_overrides:
            if fnmatch.fnmatchcase(key, rule.pattern):
                return rule.calendar
        kind = self.config.venue_calendar(venue)
        if kind is None:
            raise Refused(
                "unknown-venue",
                f"venue {venue!r} ({key}) has no session calendar: name it in MERCADO_MARKETDATA__VENUE_CALENDARS "
                "(crypto, us_equities or colombian_fx) or add an override to MERCADO_MARKETDATA__CALENDAR_OVERRIDES",
            )
        return kind

    def for_key(self, venue: str, symbol: str) -> SessionCalendar:
        return self.of_kind(self.kind_of(venue, symbol))

    def of_kind(self, kind: CalendarKind) -> SessionCalendar:
        found = self._by_kind.get(kind)
        if found is None:
            if kind == "crypto":
                found = AlwaysOpenCalendar()
            elif kind == "colombian_fx":
                found = ColombianFxCalendar(self.config.colombian_fx)
            else:
                found = UsEquitiesCalendar(self.config.us_equities)
            self._by_kind[kind] = found
        return found


@lru_cache(maxsize=16)
def calendar_book(config: MarketDataConfig) -> CalendarBook:
    """The shared :class:`CalendarBook` of a config (its session caches are then built once)."""
    return CalendarBook(config)
