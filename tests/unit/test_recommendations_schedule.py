"""The job's schedule: cron in Buenos Aires time, trading days only, missed runs coalesced."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.schedule import due_run, latest_fire, next_fire

BA = ZoneInfo("America/Argentina/Buenos_Aires")
CAL = TradingCalendar()


def at(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=BA)


def test_a_weekday_at_six_buenos_aires() -> None:
    due = due_run(CAL, at(2024, 3, 5, 6, 0), date(2024, 3, 4))
    assert due is not None and due.run_date == date(2024, 3, 5) and due.trigger == "schedule"
    assert due.fire_time.utcoffset() == timedelta(hours=-3)
    assert due_run(CAL, at(2024, 3, 5, 5, 59), date(2024, 3, 4)) is None  # not yet
    assert due_run(CAL, at(2024, 3, 5, 6, 30), date(2024, 3, 5)) is None  # already requested: idempotent


def test_holidays_and_weekends_have_no_run() -> None:
    # Carnival Monday and Tuesday 2024-02-12/13: Friday's run is the latest until Wednesday
    assert latest_fire(CAL, at(2024, 2, 13, 9)).date() == date(2024, 2, 9)
    assert next_fire(CAL, at(2024, 2, 9, 7)) == at(2024, 2, 14, 6)
    assert due_run(CAL, at(2024, 2, 11, 12), date(2024, 2, 9)) is None  # Sunday
    assert next_fire(CAL, at(2024, 4, 30, 7)) == at(2024, 5, 2, 6)  # Labour Day


def test_a_missed_run_while_down_runs_once_coalesced() -> None:
    # down from Monday 05:00 to Thursday 10:00: Mon, Tue, Wed and Thu's runs were due; one request, Thursday's
    last = date(2024, 3, 1)
    due = due_run(CAL, at(2024, 3, 7, 10), last)
    assert due is not None and due.run_date == date(2024, 3, 7) and due.trigger == "catch-up"
    assert due_run(CAL, at(2024, 3, 7, 10, 5), due.run_date) is None  # and not again


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2022, 1, 1), max_value=datetime(2027, 12, 31)))
def test_the_latest_fire_is_a_trading_day_at_the_cutoff_before_now(naive: datetime) -> None:
    now = naive.replace(tzinfo=BA)
    fire = latest_fire(CAL, now)
    assert fire is not None and fire <= now and (fire.hour, fire.minute) == (6, 0)
    assert CAL.is_trading_day(fire.date())
    # no trading day's 06:00 lies strictly between the fire and now
    day = fire.date() + timedelta(days=1)
    while datetime(day.year, day.month, day.day, 6, tzinfo=BA) <= now:
        assert not CAL.is_trading_day(day)
        day += timedelta(days=1)
