"""``mercado db migrate``: versioned SQL migrations, the storage mode, and TimescaleDB policies.

Migrations are ``sinks/migrations/NNNN_name.sql`` (both modes) or a pair ``NNNN_name.plain.sql`` /
``NNNN_name.timescaledb.sql`` (one per storage mode). Each runs once, in its own transaction, and is
recorded in ``mercado_schema_migrations`` with its checksum. The storage mode is decided at the first
migration (TimescaleDB when the extension is available, unless ``MERCADO_DB__TIMESCALEDB=off``) and
recorded in ``mercado_schema_info``; later runs keep it. In TimescaleDB mode every run also applies
the configured chunk interval, compression and retention policies (they are settings, not schema).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import asyncpg
import structlog

from sinks.database import connect, describe
from sinks.tables import quote_ident
from streams.config import Settings

log = structlog.get_logger("mercado.sink.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<mode>plain|timescaledb))?\.sql$")
MODE_KEY = "storage_mode"
MODE_REASON_KEY = "storage_mode_reason"


class MigrationError(RuntimeError):
    pass


class StorageMode(StrEnum):
    PLAIN = "plain"
    TIMESCALEDB = "timescaledb"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    files: dict[StorageMode | None, Path]  # None: the same file for both modes

    def path(self, mode: StorageMode) -> Path:
        return self.files.get(mode) or self.files[None]

    def sql(self, mode: StorageMode) -> str:
        return self.path(mode).read_text()

    def checksum(self, mode: StorageMode) -> str:
        return hashlib.sha256(self.sql(mode).encode()).hexdigest()


@dataclass
class MigrationReport:
    mode: StorageMode
    mode_reason: str
    applied: list[str] = field(default_factory=list)  # applied by this run
    present: list[str] = field(default_factory=list)  # applied earlier
    changed: list[str] = field(default_factory=list)  # applied earlier, file edited since (checksum differs)
    warnings: list[str] = field(default_factory=list)  # things the user should fix (printed by the CLI)


def discover_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, tuple[str, dict[StorageMode | None, Path]]] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql or NNNN_name.<mode>.sql")
        version = int(match["version"])
        name, files = found.setdefault(version, (match["name"], {}))
        if match["name"] != name:
            raise MigrationError(f"version {version} has two names: {name!r} and {match['name']!r}")
        files[StorageMode(match["mode"]) if match["mode"] else None] = path
    migrations = []
    for version, (name, files) in sorted(found.items()):
        if None not in files and set(files) != set(StorageMode):
            raise MigrationError(f"migration {version:04d}_{name} needs a .plain.sql and a .timescaledb.sql file")
        if None in files and len(files) > 1:
            raise MigrationError(f"migration {version:04d}_{name} has both a common and a per-mode file")
        migrations.append(Migration(version, name, files))
    return migrations


async def _bootstrap(conn: asyncpg.Connection, settings: Settings) -> None:
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(settings.db.schema_name)}")
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS mercado_schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            mode       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS mercado_schema_info (
            key        text PRIMARY KEY,
            value      text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


async def timescaledb_version(conn: asyncpg.Connection) -> str | None:
    """The version of the timescaledb extension the server could install, or None."""
    return await conn.fetchval("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")


PRELOAD_FIX = (
    "add it to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'timescaledb') and "
    "restart PostgreSQL"
)
FALLBACK = "using plain PostgreSQL tables"
# Run on a connection of its own: TimescaleDB refuses with a FATAL error, which closes the connection.
CREATE_EXTENSION_SQL = "CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public"


async def timescaledb_preloaded(conn: asyncpg.Connection) -> bool | None:
    """Whether the server preloads the timescaledb library (TimescaleDB refuses to work otherwise): None
    when this role may not read ``shared_preload_libraries`` or preloading is waived
    (``timescaledb.allow_install_without_preload``)."""
    try:
        libraries = await conn.fetchval("SELECT current_setting('shared_preload_libraries')")
    except asyncpg.InsufficientPrivilegeError:
        return None
    waived = await conn.fetchval("SELECT current_setting('timescaledb.allow_install_without_preload', true)")
    if (waived or "").lower() in ("on", "true", "1"):
        return None
    return "timescaledb" in preload_entries(libraries or "")


def preload_entries(libraries: str) -> set[str]:
    """The library names of a ``shared_preload_libraries`` value ('$libdir/timescaledb.so' -> 'timescaledb')."""
    names = set()
    for entry in libraries.split(","):
        name = entry.strip().strip('"').rsplit("/", 1)[-1].removesuffix(".so")
        if name:
            names.add(name)
    return names


def extension_failure(exc: BaseException) -> str:
    """What the failed CREATE EXTENSION means and what to do about it, in one sentence."""
    text = str(getattr(exc, "message", None) or exc)
    if "must be preloaded" in text:
        return f"the timescaledb extension is installed but not preloaded: {PRELOAD_FIX}"
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.ConnectionDoesNotExistError | OSError | EOFError):
        return (
            f"PostgreSQL closed the connection while creating the timescaledb extension ({text}); TimescaleDB "
            f"does that when it is not preloaded: {PRELOAD_FIX}"
        )
    return f"the timescaledb extension cannot be created: {describe(exc)}"


async def _create_extension(settings: Settings) -> str | None:
    """Creates the extension on a connection of its own; None when done, else why not (one sentence)."""
    conn = await connect(settings, "mercado-migrate", with_extensions=True)
    try:
        await conn.execute(CREATE_EXTENSION_SQL)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, EOFError) as exc:
        return extension_failure(exc)
    finally:
        if not conn.is_closed():
            await conn.close()
    return None


async def _detect_mode(conn: asyncpg.Connection, settings: Settings) -> tuple[StorageMode, str]:
    if settings.db.timescaledb == "off":
        return StorageMode.PLAIN, "TimescaleDB turned off (MERCADO_DB__TIMESCALEDB=off)"
    version = await timescaledb_version(conn)
    if version is None:
        if settings.db.timescaledb == "require":
            raise MigrationError("timescaledb extension not available, and MERCADO_DB__TIMESCALEDB=require")
        return StorageMode.PLAIN, "timescaledb extension not available"
    if await timescaledb_preloaded(conn) is False:
        problem = f"timescaledb {version} is installed but not preloaded: {PRELOAD_FIX}"
    else:
        problem = await _create_extension(settings)
    if problem is not None:
        if settings.db.timescaledb == "require":
            raise MigrationError(f"{problem} (or set MERCADO_DB__TIMESCALEDB=off for plain tables)")
        log.warning("TimescaleDB unusable; falling back to plain PostgreSQL tables", reason=problem)
        return StorageMode.PLAIN, f"{problem}; MERCADO_DB__TIMESCALEDB=auto: {FALLBACK}"
    return StorageMode.TIMESCALEDB, f"timescaledb {version}"


async def recorded_mode(conn: asyncpg.Connection) -> StorageMode | None:
    exists = await conn.fetchval("SELECT to_regclass('mercado_schema_info') IS NOT NULL")
    if not exists:
        return None
    value = await conn.fetchval("SELECT value FROM mercado_schema_info WHERE key = $1", MODE_KEY)
    return StorageMode(value) if value else None


async def _decide_mode(conn: asyncpg.Connection, settings: Settings) -> tuple[StorageMode, str, bool]:
    """The schema's storage mode, why, and whether this run decided it (else it was recorded earlier)."""
    mode = await recorded_mode(conn)
    if mode is not None:
        if mode is StorageMode.TIMESCALEDB and await timescaledb_preloaded(conn) is False:
            schema = settings.db.schema_name
            raise MigrationError(f"schema {schema} uses TimescaleDB, which is not preloaded: {PRELOAD_FIX}")
        reason = await conn.fetchval("SELECT value FROM mercado_schema_info WHERE key = $1", MODE_REASON_KEY)
        return mode, reason or "", False
    mode, reason = await _detect_mode(conn, settings)
    await conn.executemany(
        "INSERT INTO mercado_schema_info (key, value) VALUES ($1, $2)",
        [(MODE_KEY, mode.value), (MODE_REASON_KEY, reason)],
    )
    log.info("storage mode decided", mode=mode.value, reason=reason, schema=settings.db.schema_name)
    return mode, reason, True


async def apply_timescaledb_policies(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Chunk interval, compression and retention of every hypertable of the schema, from the settings."""
    tables = await conn.fetch(
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = $1 ORDER BY hypertable_name",
        settings.db.schema_name,
    )
    names = []
    for row in tables:
        table = f"{quote_ident(settings.db.schema_name)}.{quote_ident(row['hypertable_name'])}"
        interval = "$2::text::interval"
        await conn.execute(
            f"SELECT set_chunk_time_interval($1::regclass, {interval})", table, settings.db.chunk_interval
        )
        if row["compression_enabled"]:
            await conn.execute("SELECT remove_compression_policy($1::regclass, if_exists => true)", table)
            await conn.execute(
                f"SELECT add_compression_policy($1::regclass, {interval})", table, settings.db.compress_after
            )
        await conn.execute("SELECT remove_retention_policy($1::regclass, if_exists => true)", table)
        if settings.db.retention:
            await conn.execute(
                f"SELECT add_retention_policy($1::regclass, {interval})", table, settings.db.retention
            )
        names.append(row["hypertable_name"])
    return names


@dataclass(frozen=True)
class WorkerSettings:
    """The server's background-worker limits (postgresql.conf; changing them needs a restart)."""

    max_worker_processes: int
    max_parallel_workers: int
    timescaledb_max_background_workers: int | None  # None: the timescaledb library is not loaded


async def worker_settings(conn: asyncpg.Connection) -> WorkerSettings:
    row = await conn.fetchrow(
        "SELECT current_setting('max_worker_processes')::int AS processes, "
        "current_setting('max_parallel_workers')::int AS parallel, "
        "current_setting('timescaledb.max_background_workers', true) AS timescaledb"
    )
    timescaledb = row["timescaledb"]
    return WorkerSettings(row["processes"], row["parallel"], int(timescaledb) if timescaledb else None)


async def timescaledb_job_count(conn: asyncpg.Connection) -> int:
    """The scheduled TimescaleDB jobs of this database, every schema's (they share its scheduler)."""
    return await conn.fetchval("SELECT count(*) FROM timescaledb_information.jobs WHERE scheduled")


def worker_shortfall(jobs: int, current: WorkerSettings) -> list[str]:
    """What to raise so that every job of the database can run at once (a job that finds no free worker
    fails with "failed to start a background worker"): TimescaleDB needs one worker for the database's
    scheduler plus one per running job, and PostgreSQL's max_worker_processes must hold those, the
    parallel query workers and TimescaleDB's launcher. Empty when the settings suffice."""
    background = jobs + 1
    configured = current.timescaledb_max_background_workers
    advice = []
    if configured is not None and configured < background:
        advice.append(
            f"timescaledb.max_background_workers = {background} (now {configured}; "
            "add one per other database that uses TimescaleDB)"
        )
    processes = max(background, configured or 0) + current.max_parallel_workers + 1
    if current.max_worker_processes < processes:
        advice.append(f"max_worker_processes = {processes} (now {current.max_worker_processes})")
    if not advice:
        return []
    return [
        f"this database has {jobs} TimescaleDB jobs (compression, retention, aggregate refreshes); to let them "
        f"all run at once, raise in postgresql.conf and restart PostgreSQL: {'; '.join(advice)}"
    ]


async def migrate(settings: Settings, folder: Path = MIGRATIONS_DIR) -> MigrationReport:
    """Applies the pending migrations; idempotent. Concurrent runs wait for each other (advisory lock)."""
    migrations = discover_migrations(folder)
    conn = await connect(settings, "mercado-migrate", with_extensions=True)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('mercado.migrate:' || $1))", settings.db.schema_name)
        await _bootstrap(conn, settings)
        mode, reason, decided_now = await _decide_mode(conn, settings)
        report = MigrationReport(mode, reason)
        if decided_now and mode is StorageMode.PLAIN and reason.endswith(FALLBACK):
            report.warnings.append(
                f"TimescaleDB is not used: {reason}. The schema keeps plain tables; after fixing that, `mercado db "
                "reset --yes` and `mercado db migrate` switch it (the sink then rebuilds it from the topics)"
            )
        applied = {r["version"]: r["checksum"] for r in await conn.fetch("SELECT * FROM mercado_schema_migrations")}
        for migration in migrations:
            label = f"{migration.version:04d}_{migration.name}"
            if migration.version in applied:
                report.present.append(label)
                if applied[migration.version] != migration.checksum(mode):
                    report.changed.append(label)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql(mode))
                await conn.execute(
                    "INSERT INTO mercado_schema_migrations (version, name, mode, checksum) VALUES ($1, $2, $3, $4)",
                    migration.version,
                    migration.name,
                    mode.value,
                    migration.checksum(mode),
                )
            report.applied.append(label)
            log.info("migration applied", migration=label, mode=mode.value, schema=settings.db.schema_name)
        if mode is StorageMode.TIMESCALEDB:
            await apply_timescaledb_policies(conn, settings)
            shortfall = worker_shortfall(await timescaledb_job_count(conn), await worker_settings(conn))
            for warning in shortfall:
                log.warning("too few background workers", advice=warning)
            report.warnings.extend(shortfall)
        return report
    finally:
        await conn.close()


async def migration_status(settings: Settings) -> tuple[StorageMode | None, list[asyncpg.Record], list[Migration]]:
    """The recorded mode, the applied migrations, and the pending ones."""
    conn = await connect(settings, "mercado-migrate", with_extensions=True)
    try:
        mode = await recorded_mode(conn)
        if mode is None:
            return None, [], discover_migrations()
        rows = await conn.fetch("SELECT * FROM mercado_schema_migrations ORDER BY version")
        done = {r["version"] for r in rows}
        return mode, rows, [m for m in discover_migrations() if m.version not in done]
    finally:
        await conn.close()


async def reset(settings: Settings) -> None:
    """Drops the schema and everything in it (tables, views, continuous aggregates, stored offsets)."""
    conn = await connect(settings, "mercado-migrate", with_extensions=True)
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb')"):
            views = await conn.fetch(
                "SELECT view_name FROM timescaledb_information.continuous_aggregates WHERE view_schema = $1",
                settings.db.schema_name,
            )
            for view in views:
                name = f"{quote_ident(settings.db.schema_name)}.{quote_ident(view['view_name'])}"
                await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(settings.db.schema_name)} CASCADE")
        log.info("schema dropped", schema=settings.db.schema_name)
    finally:
        await conn.close()
