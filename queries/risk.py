"""``mercado risk status``: trading states and circuit breakers per venue, read from the sink's database.

The risk stage's outputs reach PostgreSQL through ``mercado sink`` (``sinks/tables.risk.toml``, migration
``0004_risk``); this command reads the views ``risk_trading_states`` and ``risk_breaker_status``.
:func:`print_risk_summary` (breaker transitions, trading states, PnL per account) is what the demo prints.
Registered as the ``risk`` entry point of ``mercado.commands``; heavy imports happen inside the functions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer

from infra.redaction import without_password
from streams.config import Settings, get_settings

if TYPE_CHECKING:
    from rich.console import Console

risk_app = typer.Typer(
    help="The risk pipeline's state as the sink wrote it to PostgreSQL (run `mercado sink` first).",
    no_args_is_help=True,
)

STATES_SQL = """
SELECT venue, account, state, since, tripped_breakers, changes
FROM risk_trading_states
WHERE $1::text[] IS NULL OR venue = ANY($1::text[])
ORDER BY venue, account
"""
BREAKERS_SQL = """
SELECT venue, breaker, scope, state, since, open_until, last_value, threshold, unit, opened
FROM risk_breaker_status
WHERE $1::text[] IS NULL OR venue = ANY($1::text[])
ORDER BY venue, breaker, scope
"""
TRANSITIONS_SQL = """
SELECT venue, breaker, count(*) AS transitions, count(*) FILTER (WHERE to_state = 'OPEN') AS opened,
       count(DISTINCT scope) AS scopes
FROM risk_breaker_transitions
GROUP BY venue, breaker
ORDER BY venue, breaker
"""
PNL_SQL = """
SELECT account, count(*) AS positions, count(*) FILTER (WHERE side <> 'FLAT') AS open_positions,
       sum(realized_pnl) AS realized_pnl, sum(fees) AS fees, sum(unrealized_pnl) AS unrealized_pnl,
       sum(net_pnl) AS net_pnl
FROM risk_current_positions
GROUP BY account
ORDER BY account
"""
STATE_STYLES = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "bold red"}
BREAKER_STYLES = {"CLOSED": "green", "HALF_OPEN": "yellow", "OPEN": "bold red"}


class RiskStatusError(RuntimeError):
    """The risk views cannot be read: the database is unreachable or not migrated (a message for people)."""


def _where(settings: Settings) -> str:
    """The database URL without its password, and the schema."""
    return f"schema {settings.db.schema_name!r} of {without_password(settings.dsn())}"


async def _fetch(settings: Settings, queries: Sequence[tuple[str, tuple[Any, ...]]]) -> list[list[Any]]:
    """Runs the queries in one read-only snapshot; database problems become :class:`RiskStatusError`."""
    import asyncpg

    from sinks.database import connect, describe

    try:
        conn = await connect(settings, "mercado-risk-status")
    except asyncpg.InvalidCatalogNameError as exc:
        raise RiskStatusError(f"{exc} ({_where(settings)}): check MERCADO_DATABASE_URL") from None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise RiskStatusError(f"cannot reach PostgreSQL ({_where(settings)}): {describe(exc)}") from None
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return [await conn.fetch(sql, *args) for sql, args in queries]
    except asyncpg.UndefinedTableError:
        raise RiskStatusError(
            f"the risk tables are not there ({_where(settings)}): the database is not migrated — "
            "run `mercado db migrate` first"
        ) from None
    except asyncpg.PostgresError as exc:
        raise RiskStatusError(f"reading the risk views failed ({_where(settings)}): {describe(exc)}") from None
    finally:
        await conn.close()


def _time(value: dt.datetime | None) -> str:
    if value is None:
        return "-"
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "")


def _number(value: Decimal | None) -> str:
    from processors.risk.exact import show

    return show(value)


def _styled(value: str, styles: dict[str, str]) -> str:
    style = styles.get(value)
    return f"[{style}]{value}[/]" if style else value


def fetch_status(settings: Settings, venues: Sequence[str] | None = None) -> tuple[list[Any], list[Any]]:
    """(trading states, breakers) of the venues (all when None), as rows of the two views."""
    selected = list(venues) if venues else None
    states, breakers = asyncio.run(_fetch(settings, [(STATES_SQL, (selected,)), (BREAKERS_SQL, (selected,))]))
    return states, breakers


def print_status(settings: Settings, console: Console, venues: Sequence[str] | None = None) -> None:
    """Two tables: the trading state of every account on each venue, and every breaker's state."""
    from rich.table import Table

    states, breakers = fetch_status(settings, venues)
    if not states and not breakers:
        which = f" for {', '.join(venues)}" if venues else ""
        console.print(f"no risk data{which} in {_where(settings)} yet (the risk stage's topics, then `mercado sink`)")
        return
    table = Table("venue", "account", "state", "since (UTC)", "tripped breakers", "changes",
                  title="Trading state per venue")  # fmt: skip
    for r in states:
        table.add_row(r["venue"], r["account"], _styled(r["state"], STATE_STYLES), _time(r["since"]),
                      ", ".join(r["tripped_breakers"]) or "-", str(r["changes"]))  # fmt: skip
    console.print(table)
    table = Table("venue", "breaker", "scope", "state", "since (UTC)", "open until", "last value", "threshold",
                  "opened", title="Circuit breakers per venue")  # fmt: skip
    for r in breakers:
        unit = r["unit"]
        value = "-" if r["last_value"] is None else f"{_number(r['last_value'])} {unit}"
        table.add_row(r["venue"], r["breaker"], r["scope"], _styled(r["state"], BREAKER_STYLES), _time(r["since"]),
                      _time(r["open_until"]), value, f"{_number(r['threshold'])} {unit}", str(r["opened"]))  # fmt: skip
    if not breakers:
        table.add_row("-", "no breaker has changed state", *[""] * 7)
    console.print(table)


def print_risk_summary(settings: Settings, console: Console) -> None:
    """The demo's risk summary: breaker transitions per venue and breaker, trading states per venue, and
    PnL per account (sums over ``risk_current_positions``, quote currency). Raises
    :class:`RiskStatusError` when the database is unreachable or not migrated."""
    from rich.table import Table

    transitions, states, pnl = asyncio.run(
        _fetch(settings, [(TRANSITIONS_SQL, ()), (STATES_SQL, (None,)), (PNL_SQL, ())])
    )
    table = Table("venue", "breaker", "scopes", "transitions", "opened", title="Breaker transitions")
    for r in transitions:
        table.add_row(r["venue"], r["breaker"], str(r["scopes"]), str(r["transitions"]), str(r["opened"]))
    console.print(table if transitions else "Breaker transitions: none")
    table = Table("venue", "account", "state", "changes", "tripped breakers", title="Trading states")
    for r in states:
        table.add_row(r["venue"], r["account"], _styled(r["state"], STATE_STYLES), str(r["changes"]),
                      ", ".join(r["tripped_breakers"]) or "-")  # fmt: skip
    console.print(table if states else "Trading states: no account seen yet")
    table = Table("account", "positions", "open", "realized PnL", "fees", "unrealized PnL", "net PnL",
                  title="PnL per account (quote currency)")  # fmt: skip
    for r in pnl:
        table.add_row(r["account"], str(r["positions"]), str(r["open_positions"]), _number(r["realized_pnl"]),
                      _number(r["fees"]), _number(r["unrealized_pnl"]), _number(r["net_pnl"]))  # fmt: skip
    console.print(table if pnl else "PnL per account: no position yet")


@risk_app.command("status")
def status(
    venues: list[str] | None = typer.Option(
        None, "--venue", "-v", help="Only these venues (repeatable or comma-separated); default: every venue."
    ),
) -> None:
    """Trading state of every account and state of every circuit breaker, per venue (from the database)."""
    from rich.console import Console

    names = [name.strip() for item in venues or [] for name in item.split(",") if name.strip()] or None
    try:
        print_status(get_settings(), Console(), names)
    except RiskStatusError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
