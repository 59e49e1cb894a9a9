"""`mercado generate | demo`: the seeded sample day and the demo that runs it end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from streams.commands.app import (
    app,
    console,
    fail,
)
from streams.config import get_settings


@app.command()
def generate(
    out_dir: Path = typer.Argument(..., help="Directory for one file per topic"),
    seed: int = typer.Option(42, "--seed", help="Same seed, same bytes."),
    day: str = typer.Option("2026-11-20", "--day", help="YYYY-MM-DD (UTC day)"),
    order_flow: str = typer.Option("lifecycle", "--order-flow", help="lifecycle: every order's submission, "
                                   "acceptance, fills and cancels; submissions: only OrderSubmitted, for a venue "
                                   "that executes them (mercado venue paper)."),
) -> None:
    """Write a realistic, seeded sample market day for every domain."""
    from streams.generator import ORDER_FLOWS, generate_day

    if order_flow not in ORDER_FLOWS:
        raise fail(f"--order-flow {order_flow!r}: choose from {', '.join(ORDER_FLOWS)}")
    the_day = _parse_day(day)
    with console.status(f"generating {the_day} (seed {seed})…") as st:
        manifest = generate_day(out_dir, seed, the_day, progress=lambda what, n: st.update(f"{what}: {n:,}"),
                                order_flow=order_flow)
    table = Table("file", "events", title=f"{the_day} · seed {seed} → {out_dir}")
    for name, info in sorted(manifest_files(manifest).items()):
        table.add_row(name, f"{info['lines']:,}")
    console.print(table)


def _parse_day(day: str) -> dt.date:
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        raise fail(f"--day {day!r} is not a date (YYYY-MM-DD)") from None


def manifest_files(manifest: object) -> dict[str, dict]:
    files = getattr(manifest, "files", None)
    if files is None and isinstance(manifest, dict):
        files = manifest["files"]
    return {k: (v if isinstance(v, dict) else vars(v)) for k, v in dict(files).items()}


@app.command()
def demo(
    seed: int = typer.Option(42, "--seed"),
    day: str = typer.Option("2026-11-20", "--day", help="YYYY-MM-DD"),
    feed_seconds: float = typer.Option(60.0, "--feed-seconds", help="How long a live feed adapter runs beside the "
                                       "day against a local server in Binance's format (0: no feed)."),
) -> None:
    """Start the services, create topics, generate a day, produce it, read it back, print a summary."""
    from streams.commands.demo import run_demo

    the_day = _parse_day(day)
    code = run_demo(get_settings(), seed=seed, day=the_day, console=console, feed_seconds=feed_seconds)
    raise typer.Exit(code)
