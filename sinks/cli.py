"""``mercado sink`` and ``mercado db …`` (registered through the ``mercado.commands`` entry points).

Heavy imports happen inside the commands: the ``mercado`` CLI imports this module on every start.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import typer

from sinks.settings import get_sink_settings
from streams.config import get_settings
from streams.observability.logs import configure_logging

db_app = typer.Typer(
    help="The sink's PostgreSQL/TimescaleDB schema: migrations, checksums, reset.", no_args_is_help=True
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _database_error(exc: BaseException) -> str:
    from sinks.database import describe

    text = describe(exc)
    if getattr(exc, "sqlstate", None) == "42P01":  # undefined table
        text += " — run `mercado db migrate` first"
    return text


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (idempotent); the first run decides TimescaleDB or plain PostgreSQL."""
    import asyncpg
    from rich.console import Console

    from sinks.migrate import MigrationError, migrate

    configure_logging()
    settings = get_settings()
    try:
        report = asyncio.run(migrate(settings))
    except MigrationError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot reach PostgreSQL at {settings.dsn()}: {exc}") from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _fail(_database_error(exc)) from None
    console = Console()
    for warning in report.warnings:
        Console(stderr=True).print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(f"schema [bold]{settings.db.schema_name}[/]: mode [bold]{report.mode}[/] ({report.mode_reason})")
    console.print(f"applied now: {', '.join(report.applied) or 'nothing'}")
    console.print(f"applied before: {', '.join(report.present) or 'nothing'}")
    if report.changed:
        console.print(f"[yellow]edited since applied (not re-run):[/] {', '.join(report.changed)}")


@db_app.command("status")
def db_status() -> None:
    """Show the storage mode and the applied and pending migrations."""
    from rich.console import Console
    from rich.table import Table

    from sinks.migrate import migration_status

    settings = get_settings()
    mode, applied, pending = asyncio.run(migration_status(settings))
    console = Console()
    console.print(f"schema [bold]{settings.db.schema_name}[/]: mode {mode or 'not migrated yet'}")
    table = Table("version", "name", "mode", "applied at")
    for row in applied:
        table.add_row(f"{row['version']:04d}", row["name"], row["mode"], row["applied_at"].isoformat())
    for migration in pending:
        table.add_row(f"{migration.version:04d}", migration.name, "-", "[yellow]pending[/]")
    console.print(table)


@db_app.command("checksum")
def db_checksum(
    tables: list[str] | None = typer.Option(None, "--table", help="Only these tables (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per table."),
) -> None:
    """Per-table row count and md5 of the rows in key order (compare before and after a rebuild)."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from sinks.checksum import table_checksums
    from sinks.database import connect

    settings = get_settings()

    async def compute() -> list:
        conn = await connect(settings, "mercado-checksum")
        try:
            return await table_checksums(conn, tables=tables)
        finally:
            await conn.close()

    try:
        sums = asyncio.run(compute())
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    except Exception as exc:
        raise _fail(_database_error(exc)) from None
    if as_json:
        for item in sums:
            sys.stdout.write(orjson.dumps({"table": item.table, "rows": item.rows, "md5": item.md5}).decode() + "\n")
        return
    table = Table("table", "rows", "md5")
    for item in sums:
        table.add_row(item.table, f"{item.rows:,}", item.md5)
    Console().print(table)


@db_app.command("reset")
def db_reset(yes: bool = typer.Option(False, "--yes", help="Really drop everything in the schema.")) -> None:
    """Drop the sink's schema (tables, views, stored offsets); replaying the topics rebuilds it."""
    from sinks.migrate import reset

    settings = get_settings()
    if not yes:
        raise _fail(f"this drops the schema {settings.db.schema_name!r} and all its data: add --yes")
    configure_logging()
    asyncio.run(reset(settings))
    typer.echo(f"dropped schema {settings.db.schema_name}")


def sink(
    topics: list[str] | None = typer.Option(
        None,
        "--topics",
        "-t",
        help="Topics to read (repeatable or comma-separated); default: every catalog "
        "topic carrying a mapped record type.",
    ),
    group: str | None = typer.Option(
        None, "--group", help="Consumer group (default: MERCADO_SINK__GROUP, mercado-sink)."
    ),
    batch_rows: int | None = typer.Option(None, "--batch-rows", min=1, help="Write a batch at this many messages."),
    batch_ms: int | None = typer.Option(None, "--batch-ms", min=1, help="…or when the batch is this old."),
    instance_id: str | None = typer.Option(
        None, "--instance-id", help="Static group membership: a restarted sink gets its partitions back at once."
    ),
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Default: settings metrics_port_sink."),
    migrate_first: bool = typer.Option(False, "--migrate", help="Apply pending migrations before starting."),
) -> None:
    """Materialize derived topics into PostgreSQL/TimescaleDB with an exactly-once effect (Ctrl-C flushes)."""
    from sinks.runner import ShutdownIncomplete, SinkRunner, tune_garbage_collection
    from streams.observability.metrics import serve_metrics

    configure_logging()
    updates: dict[str, object] = {}
    if group:
        updates["sink__group"] = group
    if batch_rows:
        updates["sink__batch_rows"] = batch_rows
    if batch_ms:
        updates["sink__batch_ms"] = batch_ms
    if instance_id:
        updates["sink__instance_id"] = instance_id
    settings = get_sink_settings().with_(updates)
    names = [name.strip() for item in topics or [] for name in item.split(",") if name.strip()] or None
    if migrate_first:
        from sinks.migrate import MigrationError, migrate

        try:
            asyncio.run(migrate(settings))
        except (MigrationError, OSError) as exc:
            raise _fail(f"migration failed: {exc}") from None
    try:
        port = serve_metrics("sink", settings, metrics_port)
    except OSError as exc:
        raise _fail(f"cannot serve metrics on {settings.metrics.host}: {exc} (choose another --metrics-port)") from None
    import structlog

    structlog.get_logger("mercado.sink").info("metrics served", url=f"http://{settings.metrics.host}:{port}/metrics")

    tune_garbage_collection()

    async def run() -> None:
        runner = SinkRunner(settings, names)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop)
        await runner.run()

    try:
        asyncio.run(run())
    except ShutdownIncomplete as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:
        raise _fail(_database_error(exc)) from None
