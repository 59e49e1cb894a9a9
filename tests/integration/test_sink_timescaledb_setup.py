"""TimescaleDB set up wrong, on the real server: installed but not preloaded (`mercado db migrate` says what
to set, or falls back to plain tables in auto mode; never a traceback), and too few background workers for
the jobs it creates. These run on plain PostgreSQL: the server is made to *list* the extension (the lookup
of pg_available_extensions answers a version) and then refuses it the ways TimescaleDB does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

import sinks.migrate as migrate_module
from sinks.database import connect
from sinks.migrate import (
    MigrationError,
    WorkerSettings,
    migrate,
    preload_entries,
    timescaledb_preloaded,
    worker_settings,
    worker_shortfall,
)
from streams.config import Settings, get_settings
from tests.support.sink import create_database, drop_database, isolated, query

pytestmark = pytest.mark.postgres

LISTED_VERSION = "2.28.3"
FATAL_LIKE_TIMESCALEDB = "SELECT pg_terminate_backend(pg_backend_pid())"  # the server closes the connection
PRELOAD_ERROR = (
    "DO $$ BEGIN RAISE EXCEPTION 'extension \"timescaledb\" must be preloaded' "
    "USING HINT = 'Please preload the timescaledb library via shared_preload_libraries.'; END $$"
)


@pytest.fixture(scope="module")
def setup_database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "tsdb_setup")
    yield settings
    drop_database(settings)


def server_preloads_timescaledb(settings: Settings) -> bool | None:
    async def check() -> bool | None:
        conn = await connect(settings, "mercado-test")
        try:
            return await timescaledb_preloaded(conn)
        finally:
            await conn.close()

    return asyncio.run(check())


@pytest.fixture
def listed(setup_database: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The server lists timescaledb as available (it is not installed: CREATE EXTENSION would fail)."""

    async def version(_conn: Any) -> str:
        return LISTED_VERSION

    monkeypatch.setattr(migrate_module, "timescaledb_version", version)
    return setup_database


@pytest.fixture
def not_preloaded(listed: Settings) -> Settings:
    if server_preloads_timescaledb(listed) is not False:
        pytest.skip("this server preloads timescaledb (or hides shared_preload_libraries)")
    return listed


def tables(settings: Settings) -> set[str]:
    rows = query(settings, "SELECT tablename FROM pg_tables WHERE schemaname = $1", settings.db.schema_name)
    return {r[0] for r in rows}


# --------------------------------------------------------------------------- installed, not preloaded
def test_auto_mode_falls_back_to_plain_tables_with_a_warning_when_not_preloaded(not_preloaded: Settings) -> None:
    settings = isolated(not_preloaded)  # db_timescaledb = "auto"
    report = asyncio.run(migrate(settings))

    assert report.mode == "plain"
    assert report.mode_reason.startswith(f"timescaledb {LISTED_VERSION} is installed but not preloaded: ")
    assert "shared_preload_libraries = 'timescaledb'" in report.mode_reason
    assert report.mode_reason.endswith("MERCADO_DB__TIMESCALEDB=auto: using plain PostgreSQL tables")
    assert len(report.warnings) == 1 and "TimescaleDB is not used" in report.warnings[0]
    assert {"md_bars", "mercado_sink_offsets"} <= tables(settings)  # every migration ran, plain
    assert query(settings, "SELECT value FROM mercado_schema_info WHERE key = 'storage_mode'")[0][0] == "plain"
    again = asyncio.run(migrate(settings))  # the mode is recorded: no second warning
    assert (again.mode, again.applied, again.warnings) == ("plain", [], [])


def test_require_mode_says_what_to_set_when_not_preloaded(not_preloaded: Settings) -> None:
    settings = isolated(not_preloaded, db__timescaledb="require")
    with pytest.raises(MigrationError) as failure:
        asyncio.run(migrate(settings))
    message = str(failure.value)
    assert message.startswith(f"timescaledb {LISTED_VERSION} is installed but not preloaded: ")
    assert "shared_preload_libraries = 'timescaledb'" in message and "restart PostgreSQL" in message
    assert query(settings, "SELECT count(*) FROM mercado_schema_migrations")[0][0] == 0


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (FATAL_LIKE_TIMESCALEDB, "PostgreSQL closed the connection while creating the timescaledb extension"),
        (PRELOAD_ERROR, "the timescaledb extension is installed but not preloaded: add it to shared_preload_libraries"),
    ],
    ids=["fatal-closes-the-connection", "preload-error"],
)
def test_a_refused_create_extension_is_mapped_and_auto_mode_goes_on(
    listed: Settings, monkeypatch: pytest.MonkeyPatch, statement: str, expected: str
) -> None:
    """When shared_preload_libraries cannot be read (a role without pg_read_all_settings), CREATE EXTENSION
    is tried: TimescaleDB then answers with a FATAL error that closes the connection. The real server does
    the same here (the statement terminates its own backend), or raises TimescaleDB's message."""

    async def unknown(_conn: Any) -> None:
        return None

    monkeypatch.setattr(migrate_module, "timescaledb_preloaded", unknown)
    monkeypatch.setattr(migrate_module, "CREATE_EXTENSION_SQL", statement)

    with pytest.raises(MigrationError) as failure:
        asyncio.run(migrate(isolated(listed, db__timescaledb="require")))
    assert str(failure.value).startswith(expected)
    assert "shared_preload_libraries = 'timescaledb'" in str(failure.value)

    settings = isolated(listed)
    report = asyncio.run(migrate(settings))  # the migration's own connection was not the one closed
    assert report.mode == "plain" and report.mode_reason.startswith(expected)
    assert "md_bars" in tables(settings)


def test_the_cli_prints_one_clear_line_and_no_traceback(
    not_preloaded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sinks.cli
    from streams.commands.cli import app

    # the command configures structlog to print to the runner's stream, which is closed afterwards: loggers
    # cached then would fail every later test of the session that logs
    monkeypatch.setattr(sinks.cli, "configure_logging", lambda: None)

    def run(settings: Settings) -> Any:
        monkeypatch.setenv("MERCADO_DATABASE_URL", settings.dsn())
        monkeypatch.setenv("MERCADO_DB__SCHEMA_NAME", settings.db.schema_name)
        monkeypatch.setenv("MERCADO_DB__TIMESCALEDB", settings.db.timescaledb)
        monkeypatch.setenv("COLUMNS", "400")
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, ["db", "migrate"])
        finally:
            get_settings.cache_clear()

    refused = run(isolated(not_preloaded, db__timescaledb="require"))
    assert refused.exit_code == 1, refused.output
    text = " ".join(refused.output.split())
    assert "error: timescaledb 2.28.3 is installed but not preloaded" in text
    assert "shared_preload_libraries = 'timescaledb'" in text
    assert "Traceback" not in refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit)  # typer.Exit, nothing else

    fallback = run(isolated(not_preloaded))
    assert fallback.exit_code == 0, fallback.output
    text = " ".join(fallback.output.split())
    assert "warning: TimescaleDB is not used" in text and "mode plain" in text


def test_preload_entries_reads_the_setting_like_postgresql() -> None:
    assert preload_entries("") == set()
    assert preload_entries("timescaledb") == {"timescaledb"}
    assert preload_entries("pg_stat_statements, '$libdir/timescaledb.so'".replace("'", '"')) == {
        "pg_stat_statements", "timescaledb",
    }  # fmt: skip


# --------------------------------------------------------------------------- background workers
def test_worker_shortfall_names_the_settings_to_raise() -> None:
    # 12 compression policies, 2 aggregate refreshes and TimescaleDB's own job on PostgreSQL's defaults
    defaults = WorkerSettings(max_worker_processes=8, max_parallel_workers=8, timescaledb_max_background_workers=16)
    [advice] = worker_shortfall(15, defaults)
    assert "this database has 15 TimescaleDB jobs" in advice
    assert "max_worker_processes = 25 (now 8)" in advice  # 16 TimescaleDB workers + 8 parallel + the launcher
    assert "timescaledb.max_background_workers" not in advice  # 16 >= 15 jobs + the scheduler

    few = WorkerSettings(max_worker_processes=8, max_parallel_workers=8, timescaledb_max_background_workers=8)
    [advice] = worker_shortfall(27, few)  # with retention policies too
    assert "timescaledb.max_background_workers = 28 (now 8;" in advice
    assert "max_worker_processes = 37 (now 8)" in advice

    assert worker_shortfall(27, WorkerSettings(48, 8, 32)) == []


def test_worker_settings_are_read_from_the_real_server(setup_database: Settings) -> None:
    async def read() -> WorkerSettings:
        conn = await connect(setup_database, "mercado-test")
        try:
            return await worker_settings(conn)
        finally:
            await conn.close()

    current = asyncio.run(read())
    sql = "SELECT current_setting('max_worker_processes')::int, current_setting('max_parallel_workers')::int"
    [[processes, parallel]] = query(setup_database, sql)
    assert (current.max_worker_processes, current.max_parallel_workers) == (processes, parallel)
    loaded = current.timescaledb_max_background_workers  # None on plain PostgreSQL: only processes count
    needed = max(15 + 1, loaded or 0) + parallel + 1
    advice = worker_shortfall(15, current)
    assert bool(advice) == (processes < needed or (loaded is not None and loaded < 16))
    if processes < needed:  # PostgreSQL's default 8 is short
        assert f"max_worker_processes = {needed} (now {processes})" in advice[0]
