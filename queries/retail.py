"""``mercado opportunities``: the open arbitrage opportunities, read from the sink's database.

Reads the view ``retail_open_opportunities`` (sinks/migrations/0005_retail.sql): most urgent tier first
(CRITICAL, IMPORTANT, TRACKING), then by score. :func:`print_top_opportunities` prints the same table for
other callers (the demo). Heavy imports happen inside the functions: the ``mercado`` CLI imports this
module on every start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from streams.config import Settings

VIEW = "retail_open_opportunities"
TIERS = ("CRITICAL", "IMPORTANT", "TRACKING")
PRODUCT_SPARE = 130  # the width of the table's other columns and borders


class Tier(StrEnum):
    critical = "critical"
    important = "important"
    tracking = "tracking"


class OpportunitiesUnavailable(RuntimeError):
    """The database cannot be reached, or it has no retail tables yet (not migrated)."""


@dataclass(frozen=True)
class OpenOpportunities:
    rows: list[Any]  # rows of the view, in its order, at most ``limit``
    by_tier: dict[str, int]  # open opportunities per tier (all of them, not only the rows shown)


async def _fetch(settings: Settings, tier: str | None, limit: int) -> OpenOpportunities:
    from sinks.database import connect

    conn = await connect(settings, "mercado-opportunities")
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):  # rows and counts agree
            rows = await conn.fetch(
                f"SELECT * FROM {VIEW} WHERE $1::text IS NULL OR tier = $1 "
                "ORDER BY priority, opportunity_score DESC, margin_clp DESC, opportunity_id LIMIT $2",
                tier,
                limit,
            )
            counts = await conn.fetch(f"SELECT tier, count(*) AS n FROM {VIEW} GROUP BY tier")
    finally:
        await conn.close()
    by_tier = {t: 0 for t in TIERS}
    by_tier.update({r["tier"]: r["n"] for r in counts})
    return OpenOpportunities(list(rows), by_tier)


def open_opportunities(settings: Settings, tier: str | None = None, limit: int = 20) -> OpenOpportunities:
    """The open opportunities (of one tier, e.g. ``CRITICAL``), best first; raises
    :class:`OpportunitiesUnavailable` with a message for the user when the database cannot answer."""
    import asyncpg

    from sinks.database import describe

    try:
        return asyncio.run(_fetch(settings, tier.upper() if tier else None, limit))
    except asyncpg.UndefinedTableError:
        raise OpportunitiesUnavailable(
            f"the schema {settings.db.schema_name!r} has no {VIEW} view yet — run `mercado db migrate` first"
        ) from None
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise OpportunitiesUnavailable(f"cannot read PostgreSQL at {settings.dsn()}: {describe(exc)}") from None


def _clp(value: int) -> str:
    return f"${value:,}"


def opportunities_table(rows: list[Any], title: str | None = None, width: int = 160) -> Table:
    """One line per opportunity; the product title is cut to what ``width`` columns leave for it."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("tier", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("margin CLP", justify="right", no_wrap=True)
    table.add_column("ROI %", justify="right", no_wrap=True)
    table.add_column("buy at", no_wrap=True)
    table.add_column("sell at", no_wrap=True)
    table.add_column("product", no_wrap=True, overflow="ellipsis", max_width=max(24, width - PRODUCT_SPARE))
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("risk", no_wrap=True)
    table.add_column("updated (UTC)", no_wrap=True)
    for r in rows:
        table.add_row(
            r["tier"],
            f"{r['opportunity_score']:.1f}",
            _clp(r["margin_clp"]),
            f"{r['roi_pct']:.1f}",
            f"{escape(r['buy_retailer'])} {_clp(r['buy_price'])}",
            f"{escape(r['sell_retailer'])} {_clp(r['sell_price'])}",
            escape(r["buy_title"]),
            f"{r['confidence']:.2f}",
            r["risk_level"] + (" [red]glitch?[/]" if r["glitch_suspected"] else ""),
            r["updated_at"].strftime("%Y-%m-%d %H:%M"),
        )
    return table


def _summary(found: OpenOpportunities) -> str:
    total = sum(found.by_tier.values())
    parts = ", ".join(f"{n:,} {t.lower()}" for t, n in found.by_tier.items())
    return f"{total:,} open arbitrage opportunities ({parts})"


def print_top_opportunities(settings: Settings, console: Console, limit: int = 10) -> None:
    """Prints the best ``limit`` open opportunities of every tier and how many are open per tier.

    Raises :class:`OpportunitiesUnavailable` (its message is for the user) when the database cannot answer.
    """
    found = open_opportunities(settings, None, limit)
    console.print(opportunities_table(found.rows, title=f"{VIEW} (top {limit})", width=console.width))
    console.print(_summary(found), highlight=False)


def opportunities(
    tier: Tier | None = typer.Option(None, "--tier", case_sensitive=False, help="Only this tier."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many rows."),
) -> None:
    """Print the open arbitrage opportunities from the database: most urgent tier first, then by score."""
    from rich.console import Console

    from streams.config import get_settings

    settings = get_settings()
    try:
        found = open_opportunities(settings, tier.value if tier else None, limit)
    except OpportunitiesUnavailable as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console = Console()
    if not console.is_terminal:  # piped or in CI: wide enough to read in a log
        console = Console(width=160)
    if found.rows:
        console.print(opportunities_table(found.rows, width=console.width))
    else:
        console.print(f"no open {tier.value + ' ' if tier else ''}opportunities", highlight=False)
    console.print(_summary(found), highlight=False)
