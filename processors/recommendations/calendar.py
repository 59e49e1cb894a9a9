"""BYMA's trading days and the job's instants: weekdays that are not Argentine holidays
(``holidays.country_holidays("AR")``), the cutoff (06:00) and the close (17:00) in Buenos Aires time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from processors.recommendations.config import RecommendationsConfig

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class TradingCalendar:
    def __init__(self, config: RecommendationsConfig | None = None):
        self.config = config or RecommendationsConfig()
        self.zone = ZoneInfo(self.config.timezone)

    @lru_cache(maxsize=64)  # noqa: B019 - a calendar lives as long as its pipeline
    def holidays_of(self, year: int) -> holidays.HolidayBase:
        return holidays.country_holidays(self.config.holidays_country, years=year)

    def holiday(self, day: date) -> str | None:
        return self.holidays_of(day.year).get(day)

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays_of(day.year)

    def trading_days(self, first: date, last: date) -> list[date]:
        out, day = [], first
        while day <= last:
            if self.is_trading_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out

    def at(self, day: date, moment: time) -> int:
        """``day`` at local time ``moment``, as UTC microseconds."""
        return micros(datetime.combine(day, moment, self.zone))

    def cutoff_us(self, day: date) -> int:
        return self.at(day, self.config.cutoff)

    def close_us(self, day: date) -> int:
        return self.at(day, self.config.close)

    def local_date(self, t_us: int) -> date:
        return datetime.fromtimestamp(t_us / 1e6, self.zone).date()
