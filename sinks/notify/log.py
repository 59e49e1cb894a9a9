"""The notifier's delivery log: which alert (``event_id``) reached which channel, in a small SQLite file.

Written right after a channel confirmed a delivery (or failed it permanently), read before every send:
a restarted notifier — or one that re-reads a topic under a new consumer group — skips what the log
says is done, so a restart does not resend. A crash between the channel's answer and the log write
resends that one alert (at-least-once); webhooks get the event id as ``Idempotency-Key`` for that.

Why SQLite rather than a compacted Kafka topic: a local file is transactional, needs no broker round
trip per delivery, and survives without a second consumer to rebuild it on start. The price: it is
per host — run one notifier per log file (two instances sharing a consumer group on different hosts
could each send an alert once after a rebalance).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    event_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts INTEGER NOT NULL,
    detail TEXT NOT NULL,
    recorded_at_us INTEGER NOT NULL,
    PRIMARY KEY (event_id, channel)
)
"""


@dataclass(frozen=True)
class Delivery:
    event_id: str
    channel: str
    status: str
    attempts: int
    detail: str


class DeliveryLog:
    """Thread-safe (one connection behind a lock; the writes are tiny)."""

    def __init__(self, path: Path, retention_days: float = 30.0):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            cutoff = int((time.time() - retention_days * 86_400) * 1e6)
            self._db.execute("DELETE FROM deliveries WHERE recorded_at_us < ?", (cutoff,))

    def done(self, event_id: str, channel: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM deliveries WHERE event_id = ? AND channel = ?", (event_id, channel)
            ).fetchone()
        return row is not None

    def record(self, event_id: str, channel: str, status: str, attempts: int, detail: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, channel, status, attempts, detail, time.time_ns() // 1000),
            )

    def entries(self) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, channel, status, attempts, detail FROM deliveries ORDER BY event_id, channel"
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
