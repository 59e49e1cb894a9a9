"""Builders shared by the scanner tests (no tests here): rows, snapshots, a harness that feeds one scanner
processor and checks every output against its Avro schema, and the board a consumer rebuilds from the
compacted results alone."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from processors.core import TOMBSTONE, Emit, Record
from processors.marketdata.calendars import UsEquitiesCalendar
from processors.scanner import ScannerConfig, ScannerProcessor
from processors.scanner.records import rebuild_board
from tests.support.marketdata import HOUR, MINUTE, SECOND, SERDE, new_york

__all__ = ["HOUR", "MINUTE", "SECOND", "Harness", "board_from_results", "new_york", "row", "snapshot"]


def row(ticker: str, price: float, prev_close: float = 10.0, volume: int = 100_000, avg_volume: int = 100_000,
        relative_volume: float | None = None, high: float | None = None, low: float | None = None) -> Record:
    return {"ticker": ticker, "price": price, "prev_close": prev_close, "change_pct": 0.0, "gap_pct": 0.0,
            "volume": volume, "avg_volume": avg_volume, "relative_volume": relative_volume, "market_cap": None,
            "float_shares": None, "high": high, "low": low}


def snapshot(t: int, rows: list[Record], scanner: str = "s1") -> Record:
    return {"event_id": f"{scanner}:{t}", "event_time": t, "scanner": scanner, "session": "REGULAR", "taken_at": t,
            "rows": rows}


class Harness:
    """One scanner processor, fed snapshot by snapshot; collects (and schema-checks) its outputs."""

    def __init__(self, config: ScannerConfig | None = None, scanner: str = "s1"):
        self.config = config or ScannerConfig()
        self.scanner = scanner
        self.calendar = UsEquitiesCalendar(self.config.us_equities)
        self.proc = ScannerProcessor(scanner, self.config, self.calendar)
        self.out: list[Emit] = []

    def feed(self, t: int, rows: list[Record]) -> list[Emit]:
        emits = self.proc.on_event("ScanSnapshot", snapshot(t, rows, self.scanner))
        for e in emits:
            if e.schema != TOMBSTONE:
                SERDE.encode(e.schema, e.record, e.topic)
        self.out.extend(emits)
        return emits

    def restart(self) -> None:
        """The processor rebuilt from its snapshot (through JSON, as the changelog stores it)."""
        state = orjson.loads(orjson.dumps(self.proc.snapshot()))
        self.proc = ScannerProcessor.restore(self.scanner, state, config=self.config, calendar=self.calendar)


def of(emits: Iterable[Emit], schema: str) -> list[Record]:
    return [e.record for e in emits if e.schema == schema]


def board_from_results(emits: Iterable[Emit]) -> dict[str, dict[str, list[str]]]:
    """session -> category -> tickers in rank order, from ScanResult records and tombstones alone (what a
    consumer of the compacted topic sees: the last value per key)."""
    latest: dict[str, Record | None] = {}
    for e in emits:
        if e.schema == "ScanResult":
            latest[e.key] = e.record
        elif e.schema == TOMBSTONE:
            latest[e.key] = None
    board = rebuild_board(r for r in latest.values() if r is not None)
    return {s: {c: [r["ticker"] for r in lines] for c, lines in cats.items()} for s, cats in board.items()}
