"""The sink's refresh of TimescaleDB continuous aggregates after rows older than a policy's window
(sinks/aggregates.py): which days, which SQL, and nothing at all on plain PostgreSQL. The refresh itself
runs in tests/integration/test_sink_schema.py's TimescaleDB test (skipped where the extension is not available)."""

from __future__ import annotations

import asyncio

import pytest

from sinks.aggregates import DAY_US, AggregateRefresher, RefreshPolicy, refresh_sql, stale_windows
from sinks.database import connect
from sinks.tables import load_mappings
from streams.config import Settings
from tests.support.sink import (
    MINUTE_US,
    T0_US,
    EventProducer,
    bar,
    create_database,
    create_topics,
    drain,
    drop_database,
    isolated,
    migrated,
)

HOUR_US = 60 * MINUTE_US
NOW_US = T0_US + 10 * DAY_US  # 2025-11-30 15:00 UTC
DAY0 = T0_US - T0_US % DAY_US  # 2025-11-20 00:00 UTC
POLICIES = (
    RefreshPolicy("md_bars_1h", "md_bars", "start_time", 3 * DAY_US),
    RefreshPolicy("md_bars_1d", "md_bars", "start_time", 30 * DAY_US),
)


def test_rows_inside_every_policy_window_need_no_refresh() -> None:
    recent = NOW_US - 2 * DAY_US
    assert stale_windows(POLICIES[:1], {"md_bars": (recent, recent + HOUR_US)}, NOW_US) == {}
    assert stale_windows(POLICIES, {"md_gaps": (T0_US, T0_US)}, NOW_US) == {}  # no aggregate reads md_gaps


def test_old_rows_refresh_the_whole_utc_days_they_fall_in() -> None:
    windows = stale_windows(POLICIES, {"md_bars": (T0_US, T0_US + 2 * HOUR_US)}, NOW_US)
    # 10 days old: past the 1 h aggregate's 3-day window, inside the 1 d aggregate's 30 days
    assert windows == {"md_bars_1h": (DAY0, DAY0 + DAY_US)}


def test_a_range_that_reaches_into_the_window_stops_at_its_start() -> None:
    newest = NOW_US - HOUR_US  # inside the window: the policy refreshes that part
    [(start, end)] = stale_windows(POLICIES[:1], {"md_bars": (T0_US, newest)}, NOW_US).values()
    horizon = NOW_US - 3 * DAY_US
    assert start == DAY0 and end == horizon - horizon % DAY_US + DAY_US
    assert end < newest


def test_a_bar_starting_at_midnight_is_covered_and_no_start_offset_means_nothing_to_do() -> None:
    assert stale_windows(POLICIES[:1], {"md_bars": (DAY0, DAY0)}, NOW_US) == {"md_bars_1h": (DAY0, DAY0 + DAY_US)}
    everything = RefreshPolicy("md_bars_1h", "md_bars", "start_time", None)  # the policy refreshes it all
    assert stale_windows([everything], {"md_bars": (T0_US, T0_US)}, NOW_US) == {}


def test_the_refresh_is_one_call_with_literal_utc_bounds() -> None:
    sql = refresh_sql("public", "t_ab12", "md_bars_1h", DAY0, DAY0 + DAY_US)
    assert sql == (
        'CALL "public".refresh_continuous_aggregate(\'"t_ab12"."md_bars_1h"\', '
        "'2025-11-20T00:00:00+00:00'::timestamptz, '2025-11-21T00:00:00+00:00'::timestamptz)"
    )


def test_the_batch_rows_give_the_range_through_the_mapping() -> None:
    [bars] = [m for m in load_mappings() if m.table == "md_bars"]
    rows = [bars.extract(bar(i)) for i in (600, 5, 30)]  # bar i starts at T0 + i minutes
    refresher = AggregateRefresher("t_x", "public", POLICIES)
    # bar 600 starts 10 h after T0: 2025-11-21 01:00, the next UTC day
    assert refresher.windows([(bars, rows)], NOW_US) == {"md_bars_1h": (DAY0, DAY0 + 2 * DAY_US)}
    horizon_after_bar_30 = T0_US + 5 * HOUR_US + 3 * DAY_US  # the 1 h policy's window starts at T0 + 5 h
    assert refresher.windows([(bars, rows)], horizon_after_bar_30) == {"md_bars_1h": (DAY0, DAY0 + DAY_US)}


@pytest.mark.kafka
@pytest.mark.postgres
def test_on_plain_postgresql_the_sink_has_nothing_to_refresh(services: Settings) -> None:
    database = create_database(services, "aggregates")
    try:
        settings = migrated(isolated(database, db__timescaledb="off"))

        async def load() -> AggregateRefresher | None:
            conn = await connect(settings, "mercado-test")
            try:
                return await AggregateRefresher.load(conn, settings.db.schema_name)
            finally:
                await conn.close()

        assert asyncio.run(load()) is None
        create_topics(settings, "marketdata")
        producer = EventProducer(settings)
        for i in range(5):
            producer.send("marketdata", "Bar", bar(i))  # 2025-11-20: older than any refresh window
        producer.flush()
        runner = drain(settings, ["marketdata"])
        assert (runner.stats.rows, runner.stats.aggregate_refreshes, runner.writer.aggregates) == (5, 0, None)
    finally:
        drop_database(database)
