"""The sink's schema on the real database: migrations, storage modes, the seeds' views, checksums, and
adding a pipeline with nothing but a migration and a mapping entry."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sinks.aggregates import AggregateRefresher
from sinks.database import connect
from sinks.migrate import MIGRATIONS_DIR, discover_migrations, migrate, timescaledb_version
from sinks.tables import MAPPING_FILE, load_mappings
from streams.config import Settings
from tests.support.sink import (
    MINUTE_US,
    T0_US,
    EventProducer,
    bar,
    checksums,
    create_database,
    create_topics,
    data_quality,
    drain,
    drop_database,
    execute,
    gap,
    isolated,
    migrated,
    price_tick,
    query,
)

UTC = dt.UTC


def ts(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=us)


@pytest.fixture(scope="module")
def schema_database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "sink_schema")
    yield settings
    drop_database(settings)


def timescaledb_available(settings: Settings) -> bool:
    async def check() -> bool:
        conn = await connect(settings, "mercado-test")
        try:
            return await timescaledb_version(conn) is not None
        finally:
            await conn.close()

    return asyncio.run(check())


# --------------------------------------------------------------------------- migrations
@pytest.mark.postgres
def test_migrate_is_idempotent_and_records_the_plain_mode(schema_database: Settings) -> None:
    settings = isolated(schema_database, db__timescaledb="off")
    first = asyncio.run(migrate(settings))
    second = asyncio.run(migrate(settings))

    assert (first.mode, first.mode_reason) == ("plain", "TimescaleDB turned off (MERCADO_DB__TIMESCALEDB=off)")
    assert first.applied == [f"{m.version:04d}_{m.name}" for m in discover_migrations()]
    assert first.applied[:3] == ["0001_tables", "0002_timeseries", "0003_views"]
    assert (second.applied, second.present, second.changed) == ([], first.applied, [])
    rows = query(settings, "SELECT version, name, mode FROM mercado_schema_migrations ORDER BY version")
    assert [tuple(r) for r in rows][:3] == [(1, "tables", "plain"), (2, "timeseries", "plain"), (3, "views", "plain")]
    assert len(rows) == len(first.applied)
    tables = {
        r[0] for r in query(settings, "SELECT tablename FROM pg_tables WHERE schemaname = $1", settings.db.schema_name)
    }
    assert tables == {m.table for m in load_mappings()} | {  # every mapped table, and the sink's own
        "mercado_dead_letters", "mercado_sink_offsets", "mercado_schema_migrations", "mercado_schema_info",
    }  # fmt: skip
    views = {r[0] for r in query(
        settings, "SELECT viewname FROM pg_views WHERE schemaname = $1", settings.db.schema_name
    )}
    assert {
        "md_bars_1h", "md_bars_1d", "latest_market_data", "intraday_summary", "data_quality_monitor",
        "pipeline_status",
    } <= views  # fmt: skip


@pytest.mark.postgres
def test_auto_mode_detects_what_the_server_offers(schema_database: Settings) -> None:
    settings = isolated(schema_database)  # db_timescaledb = "auto"
    report = asyncio.run(migrate(settings))
    if timescaledb_available(settings):
        assert report.mode == "timescaledb"
    else:
        assert (report.mode, report.mode_reason) == ("plain", "timescaledb extension not available")
    recorded = query(settings, "SELECT value FROM mercado_schema_info WHERE key = 'storage_mode'")
    assert recorded[0][0] == report.mode


@pytest.mark.postgres
def test_checksum_follows_the_content_not_the_write_time(schema_database: Settings) -> None:
    settings = migrated(isolated(schema_database))
    rows = [
        ("sim", "USDCOP", 60, ts(T0_US + i * MINUTE_US), ts(T0_US + (i + 1) * MINUTE_US), 1.0, 2.0, 0.5, 1.5, 3.0,
         1.2, 4, "LAST", None, 0, f"bar-{i}", ts(T0_US + (i + 1) * MINUTE_US), "a", "b")
        for i in range(3)
    ]  # fmt: skip

    async def load() -> None:
        conn = await connect(settings, "mercado-test")
        try:
            columns = load_mappings()[0].column_names
            await conn.copy_records_to_table("md_bars", records=rows, columns=columns)
        finally:
            await conn.close()

    asyncio.run(load())
    before = checksums(settings)
    query(settings, "UPDATE md_bars SET ingested_at = ingested_at + interval '1 day'")
    assert checksums(settings) == before
    query(settings, "UPDATE md_bars SET close = 1.75 WHERE event_id = 'bar-1'")
    after = checksums(settings)
    assert after["md_bars"][0] == before["md_bars"][0] == 3
    assert after["md_bars"][1] != before["md_bars"][1]
    assert {t: v for t, v in after.items() if t != "md_bars"} == {t: v for t, v in before.items() if t != "md_bars"}


# --------------------------------------------------------------------------- the seeds' views
def seed_view_data(settings: Settings) -> list[dict[str, Any]]:
    """Two hours of USD/COP minutes, three EUR/USD minutes, a 5-minute USD/COP bar, quality and gaps."""
    create_topics(settings, "marketdata")
    producer = EventProducer(settings)
    usdcop = [bar(i) for i in range(120)]
    five_minutes = bar(120, interval_s=300, end=T0_US + 125 * MINUTE_US, event_time=T0_US + 125 * MINUTE_US,
                       event_id=f"bar:sim:USDCOP:300:{T0_US + 120 * MINUTE_US}:r0")  # fmt: skip
    eurusd = [bar(i, symbol="EURUSD", open=1.1, high=1.2, low=1.0, close=1.15, vwap=1.12) for i in range(3)]
    for record in [*usdcop, five_minutes, *eurusd]:
        producer.send("marketdata", "Bar", record)
    producer.send("marketdata", "DataQuality", data_quality(0, present_bars=58))
    producer.send("marketdata", "DataQuality", data_quality(1, present_bars=60))
    producer.send("marketdata", "Gap", gap(30, missing_bars=2))
    producer.send("marketdata", "Gap", gap(75, missing_bars=1))
    producer.send("marketdata", "Gap", gap(31, symbol="EURUSD", missing_bars=3))
    producer.flush()
    drain(settings, ["marketdata"])
    return usdcop


def expected_ohlc(bars: list[dict[str, Any]]) -> dict[str, Any]:
    volume = sum(b["volume"] for b in bars)
    return {
        "open": bars[0]["open"],
        "high": max(b["high"] for b in bars),
        "low": min(b["low"] for b in bars),
        "close": bars[-1]["close"],
        "volume": pytest.approx(volume),
        "vwap": pytest.approx(sum(b["vwap"] * b["volume"] for b in bars) / volume),
        "tick_count": sum(b["tick_count"] for b in bars),
        "bar_count": len(bars),
    }


def check_hourly_and_daily_bars(settings: Settings, usdcop: list[dict[str, Any]]) -> None:
    hourly = query(settings, "SELECT * FROM md_bars_1h WHERE symbol = 'USDCOP' ORDER BY bucket")
    assert [r["bucket"] for r in hourly] == [ts(T0_US), ts(T0_US + 60 * MINUTE_US)]
    for row, part in zip(hourly, (usdcop[:60], usdcop[60:]), strict=True):
        assert {k: row[k] for k in expected_ohlc(part)} == expected_ohlc(part)
    daily = query(settings, "SELECT * FROM md_bars_1d WHERE symbol = 'USDCOP'")
    assert len(daily) == 1 and daily[0]["bucket"] == dt.datetime(2025, 11, 20, tzinfo=UTC)
    assert {k: daily[0][k] for k in expected_ohlc(usdcop)} == expected_ohlc(usdcop)


@pytest.mark.kafka
@pytest.mark.postgres
def test_views_give_latest_price_daily_ohlc_hourly_quality_and_pipeline_status(schema_database: Settings) -> None:
    settings = migrated(isolated(schema_database, db__timescaledb="off"))
    usdcop = seed_view_data(settings)

    latest = query(settings, "SELECT * FROM latest_market_data ORDER BY venue, symbol")
    assert [(r["venue"], r["symbol"], r["price"], r["as_of"], r["interval_s"]) for r in latest] == [
        ("sim", "EURUSD", 1.15, ts(T0_US + 3 * MINUTE_US), 60),
        ("sim", "USDCOP", usdcop[119]["close"], ts(T0_US + 120 * MINUTE_US), 60),  # the 5-minute bar is coarser
    ]

    check_hourly_and_daily_bars(settings, usdcop)

    summary = query(settings, "SELECT * FROM intraday_summary WHERE symbol = 'USDCOP'")
    assert len(summary) == 1
    day = summary[0]
    assert day["day"] == dt.date(2025, 11, 20)
    assert day["change"] == pytest.approx(usdcop[119]["close"] - usdcop[0]["open"])
    assert day["change_pct"] == pytest.approx((usdcop[119]["close"] - usdcop[0]["open"]) / usdcop[0]["open"] * 100)
    assert day["range"] == pytest.approx(max(b["high"] for b in usdcop) - min(b["low"] for b in usdcop))
    assert day["bar_count"] == 120

    quality = query(settings, "SELECT * FROM data_quality_monitor ORDER BY hour_start")
    assert [
        (r["symbol"], r["hour_start"], r["expected_bars"], r["present_bars"], r["missing_bars"], r["gap_count"],
         r["gap_bars"], r["coverage_pct"], r["late_ticks"])
        for r in quality
    ] == [
        ("USDCOP", ts(T0_US), 60, 58, 2, 1, 2, pytest.approx(58 / 60 * 100), 4),
        ("USDCOP", ts(T0_US + 60 * MINUTE_US), 60, 60, 0, 1, 1, 100.0, 4),
    ]  # fmt: skip

    status = {r["table_name"]: r for r in query(settings, "SELECT * FROM pipeline_status")}
    others = {name for name in status if name.startswith(("risk_", "trading_", "retail_"))}
    assert len(others) == 14  # the risk and retail pipelines' tables (0006), empty here
    assert {name: r["row_count"] for name, r in status.items() if name not in others} == {
        "md_bars": 124, "md_gaps": 3, "md_indicators": 0, "md_data_quality": 2, "md_late_ticks": 0, "alerts": 0,
        "mercado_dead_letters": 0,
    }  # fmt: skip
    assert all(status[name]["row_count"] == 0 for name in others)
    assert status["md_bars"]["last_event_time"] == ts(T0_US + 125 * MINUTE_US)
    assert status["md_bars"]["last_written_at"] is not None
    assert status["alerts"]["last_event_time"] is None


# --------------------------------------------------------------------------- TimescaleDB
@pytest.fixture
def timescaledb(schema_database: Settings) -> Settings:
    if not timescaledb_available(schema_database):
        pytest.skip("timescaledb extension not available")
    return schema_database


@pytest.mark.kafka
@pytest.mark.postgres
def test_timescaledb_mode_hypertables_compression_retention_and_continuous_aggregates(timescaledb: Settings) -> None:
    settings = migrated(
        isolated(
            timescaledb, db__timescaledb="require", db__retention="3650 days", db__chunk_interval="1 day"
        )
    )
    schema = settings.db.schema_name
    assert query(settings, "SELECT value FROM mercado_schema_info WHERE key = 'storage_mode'")[0][0] == "timescaledb"
    hypertables = query(
        settings,
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = $1",
        schema,
    )
    market_data = ("md_bars", "md_gaps", "md_indicators", "md_data_quality", "md_late_ticks", "alerts")
    assert {
        r["hypertable_name"]: r["compression_enabled"] for r in hypertables if r["hypertable_name"] in market_data
    } == {name: True for name in market_data}
    dimensions = query(
        settings,
        "SELECT hypertable_name, column_name, time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_schema = $1 AND hypertable_name = 'md_bars'",
        schema,
    )
    assert [(r["column_name"], r["time_interval"]) for r in dimensions] == [("start_time", dt.timedelta(days=1))]
    jobs = query(
        settings,
        "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs WHERE hypertable_schema = $1",
        schema,
    )
    policies = {(r["proc_name"], r["hypertable_name"]) for r in jobs}
    for table in ("md_bars", "md_gaps", "md_indicators", "md_data_quality", "md_late_ticks", "alerts"):
        assert ("policy_compression", table) in policies
        assert ("policy_retention", table) in policies
    caggs = query(
        settings,
        "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_schema = $1",
        schema,
    )
    assert {r["view_name"]: r["materialized_only"] for r in caggs} == {"md_bars_1h": False, "md_bars_1d": False}
    # A refresh job names the aggregate's materialization hypertable up to TimescaleDB 2.19, the
    # aggregate itself from 2.20 on: both shapes count (sinks/aggregates.py matches them the same way).
    refresh_jobs = query(
        settings,
        "SELECT c.view_name, (j.config ->> 'start_offset')::interval AS start_offset "
        "FROM timescaledb_information.continuous_aggregates c JOIN timescaledb_information.jobs j "
        "ON j.proc_name = 'policy_refresh_continuous_aggregate' "
        "AND ((j.hypertable_schema = c.view_schema AND j.hypertable_name = c.view_name) "
        "OR (j.hypertable_schema = c.materialization_hypertable_schema "
        "AND j.hypertable_name = c.materialization_hypertable_name)) "
        "WHERE c.view_schema = $1 ORDER BY c.view_name",
        schema,
    )
    assert [(r["view_name"], r["start_offset"]) for r in refresh_jobs] == [
        ("md_bars_1d", dt.timedelta(days=30)), ("md_bars_1h", dt.timedelta(days=3)),
    ]  # fmt: skip
    refresher = asyncio.run(load_refresher(settings))
    assert refresher is not None
    assert {(p.view, p.table, p.time_column, p.start_offset_us) for p in refresher.policies} == {
        ("md_bars_1h", "md_bars", "start_time", 3 * 86_400_000_000),
        ("md_bars_1d", "md_bars", "start_time", 30 * 86_400_000_000),
    }

    usdcop = seed_view_data(settings)  # the same write path as plain PostgreSQL
    check_hourly_and_daily_bars(settings, usdcop)  # real-time aggregation
    # The day (2025-11-20) is older than the 1 h aggregate's refresh window (3 days): no policy run will
    # materialize it, so the sink refreshed it after its batches committed. Read the materialization alone:
    materialized_only(settings, "md_bars_1h", True)
    hourly = query(settings, "SELECT bucket, close FROM md_bars_1h WHERE symbol = 'USDCOP' ORDER BY bucket")
    assert [(r["bucket"], r["close"]) for r in hourly] == [
        (ts(T0_US), usdcop[59]["close"]), (ts(T0_US + 60 * MINUTE_US), usdcop[119]["close"]),
    ]  # fmt: skip
    # a revision of an old bar (a backfill): the sink refreshes that day again
    producer = EventProducer(settings)
    revised = bar(119, revision=1, close=usdcop[119]["close"] + 7.0)
    producer.send("marketdata", "Bar", revised)
    producer.flush()
    drain(settings, ["marketdata"])
    hourly = query(settings, "SELECT bucket, close FROM md_bars_1h WHERE symbol = 'USDCOP' ORDER BY bucket")
    assert hourly[-1]["close"] == revised["close"]
    materialized_only(settings, "md_bars_1h", False)
    usdcop[119] = revised
    for view in ("md_bars_1h", "md_bars_1d"):
        execute(settings, f"CALL refresh_continuous_aggregate('{schema}.{view}', NULL, NULL)")
    check_hourly_and_daily_bars(settings, usdcop)  # materialized
    latest = query(settings, "SELECT symbol, price FROM latest_market_data ORDER BY symbol")
    assert [tuple(r) for r in latest] == [("EURUSD", 1.15), ("USDCOP", usdcop[119]["close"])]


def materialized_only(settings: Settings, view: str, on: bool) -> None:
    schema = settings.db.schema_name
    execute(settings, f"ALTER MATERIALIZED VIEW {schema}.{view} SET (timescaledb.materialized_only = {on})")


async def load_refresher(settings: Settings) -> AggregateRefresher | None:
    conn = await connect(settings, "mercado-test")
    try:
        return await AggregateRefresher.load(conn, settings.db.schema_name)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- a new pipeline = migration + mapping
@pytest.mark.kafka
@pytest.mark.postgres
def test_a_new_pipeline_needs_only_a_migration_and_a_mapping_entry(schema_database: Settings, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    ticks = f"{discover_migrations()[-1].version + 1:04d}_ticks"  # after every pipeline's migrations
    (migrations / f"{ticks}.sql").write_text(
        "CREATE TABLE md_ticks (event_id text PRIMARY KEY, event_time timestamptz NOT NULL, venue text NOT NULL,"
        " symbol text NOT NULL, bid double precision, ask double precision, sequence bigint NOT NULL,"
        " ingested_at timestamptz NOT NULL DEFAULT now());\n"
    )
    mapping_file = tmp_path / "tables.toml"
    mapping_file.write_text(
        MAPPING_FILE.read_text()
        + '\n[[table]]\nrecord = "mercado.marketdata.PriceTick"\ntable = "md_ticks"\nkey = ["event_id"]\n'
        'on_conflict = "ignore"\n\n[table.columns]\nevent_id = "event_id"\n'
        'event_time = { field = "event_time", type = "timestamp" }\nvenue = "venue"\nsymbol = "symbol"\n'
        'bid = "bid"\nask = "ask"\nsequence = "sequence"\n'
    )
    settings = isolated(schema_database)
    report = asyncio.run(migrate(settings, migrations))
    assert report.applied[-1] == ticks
    create_topics(settings, "ticks")
    producer = EventProducer(settings)
    for i in range(10):
        producer.send("ticks", "PriceTick", price_tick(i))
    producer.send("ticks", "PriceTick", price_tick(3))  # a duplicate: ignored
    producer.flush()

    drain(settings, ["ticks"], mappings=load_mappings(mapping_file))

    rows = query(settings, "SELECT event_id, event_time, sequence FROM md_ticks ORDER BY sequence")
    assert [(r["event_id"], r["event_time"], r["sequence"]) for r in rows] == [
        (f"sim:USDCOP:{i}", ts(T0_US + i), i) for i in range(10)
    ]
