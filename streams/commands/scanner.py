"""``mercado scanner board`` and ``mercado scanner persist``: the scanner's hot board from its compacted
topic alone (no database), and the seed's manual persistence.

``board`` reads ``scanner.results.v1`` from the beginning to its end (read_committed), keeps the last
value per key (a tombstone removes the key) and prints each session's categories in rank order.
``persist`` takes the same board and produces its top N per session and category as ``ScanTopEntry``
records (trigger ``manual``, as of the board's latest event time) to ``scanner.top.v1``; the sink writes
them like the hourly ones (``ON CONFLICT DO NOTHING``), so the command never touches the database and a
second run for the same board writes nothing more.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from confluent_kafka import Producer
from rich.table import Table

from processors import topics
from processors.core import Record
from processors.scanner.records import MANUAL, top_entry
from streams.commands.app import console, fail
from streams.config import Settings, get_settings
from streams.kafka.catalog import topic as catalog_topic
from streams.kafka.clients import producer_config
from streams.kafka.compacted import current_board
from streams.kafka.consumer import default_serde

scanner_app = typer.Typer(help="The stock scanner's board (from its compacted topic) and persistence.",
                          no_args_is_help=True)


def manual_entries(board: dict[str, dict[str, list[Record]]], top_n: int) -> list[Record]:
    """The top N of every session and category of ``board``, as of each session's latest line."""
    out: list[Record] = []
    for _session, categories in sorted(board.items()):
        at = max(r["event_time"] for lines in categories.values() for r in lines)
        for category, lines in sorted(categories.items()):
            out.extend(top_entry(r, category, at, MANUAL) for r in lines[:top_n])
    return out


def print_board(board: dict[str, dict[str, list[Record]]], top: int, title: str = "") -> None:
    for session, categories in sorted(board.items()):
        for category, lines in categories.items():
            table = Table(title=f"{title}{session} · {category} ({len(lines)})", title_justify="left")
            for column in ("#", "ticker", "score", "price", "change %", "gap %", "volume", "rel vol"):
                table.add_column(column, justify="left" if column == "ticker" else "right")
            for r in lines[:top]:
                rank = next(p["rank"] for p in r["categories"] if p["category"] == category)
                score = next(p["score"] for p in r["categories"] if p["category"] == category)
                rvol = "" if r["relative_volume"] is None else f"{r['relative_volume']:.2f}"
                table.add_row(str(rank), r["ticker"], f"{score:,.4g}", f"{r['price']:,.4f}".rstrip("0").rstrip("."),
                              f"{r['change_pct']:+.2f}", f"{r['gap_pct']:+.2f}", f"{r['volume']:,}", rvol)
            console.print(table)


def _filter(board: dict[str, dict[str, list[Any]]], session: str | None, category: str | None) -> dict:
    return {s: {c: v for c, v in cats.items() if category is None or c == category}
            for s, cats in board.items() if session is None or s == session.upper()}


@scanner_app.command()
def board(
    session: Annotated[str | None, typer.Option(help="PRE_MARKET, REGULAR or POST_MARKET (default: every one).")]
    = None,
    category: Annotated[str | None, typer.Option(help="One category, e.g. top_gainers (default: every one).")] = None,
    scanner: Annotated[str | None, typer.Option(help="One scanner (default: every one).")] = None,
    top: Annotated[int, typer.Option(help="Lines per category.")] = 10,
) -> None:
    """Prints the current board from the compacted topic scanner.results.v1 alone (no database)."""
    settings = get_settings()
    found = _filter(current_board(settings, scanner), session, category)
    if not found:
        raise fail("the board is empty (no scanner results on the topic for that choice)")
    print_board(found, top)


@scanner_app.command()
def persist(
    top_n: Annotated[int | None, typer.Option(help="Per session and category (default: MERCADO_SCANNER__"
                                                   "PERSIST_TOP_N).")] = None,
    scanner: Annotated[str | None, typer.Option(help="One scanner (default: every one).")] = None,
) -> None:
    """Writes the current board's top N per session and category now: ScanTopEntry records (trigger manual)
    to scanner.top.v1, which `mercado sink` persists (ON CONFLICT DO NOTHING)."""
    settings = get_settings()
    entries = manual_entries(current_board(settings, scanner), top_n or settings.scanner.persist_top_n)
    if not entries:
        raise fail("the board is empty: nothing to persist")
    produce_entries(settings, entries)
    console.print(f"{len(entries):,} top entries produced to {settings.topic(topics.SCAN_TOP)}; "
                  "`mercado sink` writes them")


def produce_entries(settings: Settings, entries: list[Record]) -> None:
    serde = default_serde(settings)
    key_of = catalog_topic(topics.SCAN_TOP).key_function()
    producer = Producer(producer_config(settings))
    name = settings.topic(topics.SCAN_TOP)
    for r in entries:
        producer.produce(name, serde.encode("ScanTopEntry", r, topics.SCAN_TOP), key_of(r).encode(),
                         timestamp=r["event_time"] // 1000)
    if producer.flush(60) > 0:
        raise RuntimeError(f"{name}: not every entry was delivered")
