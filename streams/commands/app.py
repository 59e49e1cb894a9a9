"""The ``mercado`` command line's root: the typer app, its consoles and the helpers every command group
shares. Each group lives in its own module beside this one; ``cli.py`` assembles them."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from streams.config import Settings, get_settings

app = typer.Typer(
    name="mercado",
    help="Mercado: event-sourced market stream processing on Apache Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:  # piped or in CI: tables wide enough to read in a log
    console = Console(width=160)
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


MAX_AHEAD_HELP = (
    "Refuse rows whose event time is more than SECONDS ahead of the wall clock "
    "(default: MERCADO_ADMISSION__MAX_AHEAD_S, 300)."
)


def door_settings(max_ahead: float | None) -> Settings:
    """The settings of a door (produce, backfill), with ``--max-ahead`` applied to the admission bounds."""
    settings = get_settings()
    if max_ahead is None:
        return settings
    from processors.admission import AdmissionConfig

    admission = AdmissionConfig.model_validate({**settings.admission.model_dump(), "max_ahead_s": max_ahead})
    return settings.with_({"admission": admission})


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )


def iso(micros: int) -> str:
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None, option: str) -> int | None:
    """ISO-8601 (naive = UTC) or integer microseconds -> milliseconds."""
    if text is None:
        return None
    from streams.codec.coerce import RowError, timestamp_micros

    try:
        return timestamp_micros(text) // 1000
    except RowError:
        raise fail(f"{option} {text!r} is not an ISO-8601 time (e.g. 2026-11-20T13:00:00Z)") from None
