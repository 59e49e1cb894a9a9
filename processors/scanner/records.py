"""Output topics of the scanner pipeline, its sessions, and the builders of its records (wire form).

* ``scanner.results.v1`` (compacted), key scanner:session:ticker: ScanResult, a ticker's line on a
  session's board; a tombstone when it left every category.
* ``scanner.deltas.v1``, key scanner:session:category: ScanDelta, entered / left / moved, with the
  board's sequence number.
* ``scanner.boards.v1``, key scanner:session: ScanBoard, per snapshot the counts and the top of each
  category with their sequence numbers.
* ``scanner.alerts.v1``, key scanner:ticker: ScanAlert, new high/low of day, gap, relative-volume spike,
  halt, resume (throttled per ticker and kind).
* ``scanner.top.v1``, key scanner:session:category: ScanTopEntry, the top N to persist at each interval
  boundary and at each session's close (the sink writes them).
* ``scanner.rejected.v1``, key scanner: ScanRowRejected, one bad row of a snapshot and why (the rest of
  the snapshot is used).

A whole snapshot that cannot be used (behind the last one, outside every session) is refused with
:class:`~processors.admission.Refused` and goes to the dead-letter topic with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from processors import topics
from processors.core import Record

OUTPUT_TOPICS: tuple[str, ...] = (
    topics.SCAN_RESULTS,
    topics.SCAN_DELTAS,
    topics.SCAN_BOARDS,
    topics.SCAN_ALERTS,
    topics.SCAN_TOP,
    topics.SCAN_REJECTED,
    topics.COMMAND_RESULTS,  # the results of PERSIST_SCANNER_BOARD commands
)

# the calendar's session names (processors/marketdata/calendars.py) -> the scanner's
SESSIONS: dict[str, str] = {"pre": "PRE_MARKET", "regular": "REGULAR", "post": "POST_MARKET"}
PRE_MARKET, REGULAR, POST_MARKET = "PRE_MARKET", "REGULAR", "POST_MARKET"

# reasons of refused rows (scanner.rejected.v1) and snapshots (dead letters)
DUPLICATE_TICKER = "duplicate-ticker"
BAD_PRICE = "bad-price"
NEGATIVE_VOLUME = "negative-volume"
BAD_NUMBER = "bad-number"
UNIVERSE_FULL = "universe-full"
EVENT_TIME_BEHIND = "event-time-behind"
OUTSIDE_SESSION = "outside-session"

# alert kinds
NEW_HIGH, NEW_LOW, GAP, RVOL_SPIKE, HALT, RESUME = "new_high", "new_low", "gap", "rvol_spike", "halt", "resume"

# persistence triggers
HOURLY, CLOSE, MANUAL = "interval", "close", "manual"


def rebuild_board(lines: Iterable[Record]) -> dict[str, dict[str, list[Record]]]:
    """session -> category -> the ScanResult lines in rank order: the board a consumer rebuilds from the
    compacted ``scanner.results.v1`` alone (its last value per key, tombstoned keys left out)."""
    placed: dict[str, dict[str, list[tuple[int, str, Record]]]] = {}
    for r in lines:
        for p in r["categories"]:
            placed.setdefault(r["session"], {}).setdefault(p["category"], []).append((p["rank"], r["ticker"], r))
    return {s: {c: [r for _, _, r in sorted(v, key=lambda x: x[:2])] for c, v in cats.items()}
            for s, cats in placed.items()}


def top_entry(line: Record, category: str, at: int, trigger: str) -> Record:
    """The ScanTopEntry of a board line (a ScanResult) in ``category``, as of ``at``."""
    p = next(p for p in line["categories"] if p["category"] == category)
    return {"event_id": f"{line['scanner']}:{line['trading_day']}:{line['session']}:{category}:{at}:{p['rank']}",
            "event_time": at, "scanner": line["scanner"], "trading_day": line["trading_day"],
            "session": line["session"], "category": category, "rank": p["rank"], "ticker": line["ticker"],
            "score": p["score"], "price": line["price"], "change_pct": line["change_pct"],
            "gap_pct": line["gap_pct"], "volume": line["volume"], "relative_volume": line["relative_volume"],
            "trigger": trigger}
