"""Event time as integer microseconds since the epoch (UTC), and its ISO-8601 text form."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH_DATE = date(1970, 1, 1)


@lru_cache(maxsize=256)
def _date_text(day_index: int) -> str:
    return (_EPOCH_DATE + timedelta(days=day_index)).isoformat()


def iso(us: int) -> str:
    """``1795179600250000`` -> ``"2026-11-20T13:00:00.250000Z"`` (always microseconds, always ``Z``)."""
    day_index, rest = divmod(us, DAY)
    seconds, micros = divmod(rest, SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_date_text(day_index)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"


def utc_day_start(day: date) -> int:
    return (day - _EPOCH_DATE).days * DAY


def local_micros(day: date, at: time, tz: str) -> int:
    """A wall-clock time on ``day`` in zone ``tz`` as UTC microseconds."""
    moment = datetime.combine(day, at, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    return utc_day_start(moment.date()) + (
        (moment.hour * 3600 + moment.minute * 60 + moment.second) * SECOND + moment.microsecond
    )
