"""When the daily job is due: the cron expression (croniter) in Buenos Aires time, on trading days only.

Pure: the caller passes the wall-clock instant (the scheduler at the edge) and the last run date it
requested (read back from the job-requests topic), so a test can play any clock. Missed runs coalesce:
after downtime, only the latest scheduled run that was missed is requested, once (APScheduler's
``coalesce=True``); one older than ``grace`` is marked ``catch-up``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from croniter import croniter

from processors.recommendations.calendar import TradingCalendar
from processors.recommendations.config import RecommendationsConfig


class Due(NamedTuple):
    run_date: date
    fire_time: datetime  # when the schedule fired (local time)
    trigger: str  # "schedule", or "catch-up" when requested more than `grace` after fire_time


def latest_fire(calendar: TradingCalendar, now: datetime) -> datetime | None:
    """The latest scheduled instant at or before ``now`` that falls on a trading day (None: none in a year)."""
    local = now.astimezone(calendar.zone)
    it = croniter(calendar.config.schedule, local + timedelta(microseconds=1))
    for _ in range(400):
        fire: datetime = it.get_prev(datetime)
        if calendar.is_trading_day(fire.date()):
            return fire
    return None


def due_run(calendar: TradingCalendar, now: datetime, last_requested: date | None,
            grace: timedelta = timedelta(hours=1)) -> Due | None:
    """The run to request now, or None (already requested, or nothing scheduled yet)."""
    fire = latest_fire(calendar, now)
    if fire is None or (last_requested is not None and fire.date() <= last_requested):
        return None
    late = now.astimezone(calendar.zone) - fire > grace
    return Due(fire.date(), fire, "catch-up" if late else "schedule")


def next_fire(calendar: TradingCalendar, now: datetime) -> datetime:
    """The next scheduled instant after ``now`` on a trading day."""
    it = croniter(calendar.config.schedule, now.astimezone(calendar.zone))
    while True:
        fire: datetime = it.get_next(datetime)
        if calendar.is_trading_day(fire.date()):
            return fire


def job_request(day: date, config: RecommendationsConfig | None = None, trigger: str = "manual") -> dict[str, Any]:
    """The JobRequested of ``day``'s run, at its cutoff; its event id depends only on the job and the date
    (whoever asks — the schedule, `mercado recommend run`, a command, a backtest — so re-runs are idempotent)."""
    config = config or RecommendationsConfig()
    cutoff = TradingCalendar(config).cutoff_us(day)
    return {"event_id": f"job:{config.job}:{day.isoformat()}", "event_time": cutoff, "job": config.job,
            "run_date": day.isoformat(), "cutoff": cutoff, "trigger": trigger, "shard": None}
