"""``mercado db migrate``: versioned SQL migrations, the storage mode, and TimescaleDB policies.

Migrations are ``sinks/migrations/NNNN_name.sql`` (both modes) or a pair ``NNNN_name.plain.sql`` /
``NNNN_name.timescaledb.sql`` (one per storage mode). Each runs once, in its own transaction, and is
recorded in ``mercado_schema_migrations`` with its checksum. The storage mode is decided at the first
migration (TimescaleDB when the extension is available, unless ``MERCADO_DB_TIMESCALEDB=off``) and
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

from sinks.database import connect
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
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(settings.db_schema)}")
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


async def _detect_mode(conn: asyncpg.Connection, settings: Settings) -> tuple[StorageMode, str]:
    if settings.db_timescaledb == "off":
        return StorageMode.PLAIN, "TimescaleDB turned off (MERCADO_DB_TIMESCALEDB=off)"
    version = await timescaledb_version(conn)
    if version is None:
        if settings.db_timescaledb == "require":
            raise MigrationError("timescaledb extension not available, and MERCADO_DB_TIMESCALEDB=require")
        return StorageMode.PLAIN, "timescaledb extension not available"
    try:
        async with conn.transaction():
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public")
    except asyncpg.PostgresError as exc:
        if settings.db_timescaledb == "require":
            raise MigrationError(f"timescaledb extension cannot be created: {exc}") from exc
        return StorageMode.PLAIN, f"timescaledb extension available but not loadable: {exc}"
    return StorageMode.TIMESCALEDB, f"timescaledb {version}"


async def recorded_mode(conn: asyncpg.Connection) -> StorageMode | None:
    exists = await conn.fetchval("SELECT to_regclass('mercado_schema_info') IS NOT NULL")
    if not exists:
        return None
    value = await conn.fetchval("SELECT value FROM mercado_schema_info WHERE key = $1", MODE_KEY)
    return StorageMode(value) if value else None


async def _decide_mode(conn: asyncpg.Connection, settings: Settings) -> tuple[StorageMode, str]:
    mode = await recorded_mode(conn)
    if mode is not None:
        reason = await conn.fetchval("SELECT value FROM mercado_schema_info WHERE key = $1", MODE_REASON_KEY)
        return mode, reason or ""
    mode, reason = await _detect_mode(conn, settings)
    await conn.executemany(
        "INSERT INTO mercado_schema_info (key, value) VALUES ($1, $2)",
        [(MODE_KEY, mode.value), (MODE_REASON_KEY, reason)],
    )
    log.info("storage mode decided", mode=mode.value, reason=reason, schema=settings.db_schema)
    return mode, reason


async def apply_timescaledb_policies(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Chunk interval, compression and retention of every hypertable of the schema, from the settings."""
    tables = await conn.fetch(
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = $1 ORDER BY hypertable_name",
        settings.db_schema,
    )
    names = []
    for row in tables:
        table = f"{quote_ident(settings.db_schema)}.{quote_ident(row['hypertable_name'])}"
        interval = "$2::text::interval"
        await conn.execute(
            f"SELECT set_chunk_time_interval($1::regclass, {interval})", table, settings.timescale_chunk_interval
        )
        if row["compression_enabled"]:
            await conn.execute("SELECT remove_compression_policy($1::regclass, if_exists => true)", table)
            await conn.execute(
                f"SELECT add_compression_policy($1::regclass, {interval})", table, settings.timescale_compress_after
            )
        await conn.execute("SELECT remove_retention_policy($1::regclass, if_exists => true)", table)
        if settings.timescale_retention:
            await conn.execute(
                f"SELECT add_retention_policy($1::regclass, {interval})", table, settings.timescale_retention
            )
        names.append(row["hypertable_name"])
    return names


async def migrate(settings: Settings, folder: Path = MIGRATIONS_DIR) -> MigrationReport:
    """Applies the pending migrations; idempotent. Concurrent runs wait for each other (advisory lock)."""
    migrations = discover_migrations(folder)
    conn = await connect(settings, "mercado-migrate", with_extensions=True)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('mercado.migrate:' || $1))", settings.db_schema)
        await _bootstrap(conn, settings)
        mode, reason = await _decide_mode(conn, settings)
        report = MigrationReport(mode, reason)
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
            log.info("migration applied", migration=label, mode=mode.value, schema=settings.db_schema)
        if mode is StorageMode.TIMESCALEDB:
            await apply_timescaledb_policies(conn, settings)
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
                settings.db_schema,
            )
            for view in views:
                name = f"{quote_ident(settings.db_schema)}.{quote_ident(view['view_name'])}"
                await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(settings.db_schema)} CASCADE")
        log.info("schema dropped", schema=settings.db_schema)
    finally:
        await conn.close()
