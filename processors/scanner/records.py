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

from processors import topics

OUTPUT_TOPICS: tuple[str, ...] = (
    topics.SCAN_RESULTS,
    topics.SCAN_DELTAS,
    topics.SCAN_BOARDS,
    topics.SCAN_ALERTS,
    topics.SCAN_TOP,
    topics.SCAN_REJECTED,
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
