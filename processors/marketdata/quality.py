"""Data-quality figures per key and UTC hour, emitted once the watermark passes the hour's end + grace.

An hour is reported when it overlaps a session or received ticks (from the key's first event on).
Bounded output: one watermark move reports at most ``max_silent`` hours without ticks or bars; the
silent hours after them in the same move are not reported (the move's Gaps cover that silence), so a
jump of any length emits a bounded number of records. Hours with ticks or bars are always reported.

* ``expected_bars``: base-interval bar intervals (clipped to sessions) that start in the hour;
  ``present_bars``: live bars of the base interval that start in the hour; ``coverage_pct`` =
  100 × present / expected (None when none was expected).
* ``tick_count``: on-time live ticks whose event time is in the hour, in or off session (an hour
  outside every session with ticks is how off-session ticks show up). Late ticks are not in it.
* ``late_ticks``: ticks that arrived late while the key's watermark was in the hour (a late tick's own
  hour may already have been reported, so lateness is counted when it is observed).
* ``max_inter_tick_gap_s``: the largest difference between the event times of successive in-order
  ticks of the hour (an out-of-order tick does not split a gap); None with fewer than two ticks.
* ``latency_p50/p95/p99_ms``: ingest latency ``_produced_us - event_time`` of the hour's on-time ticks
  that carry ``_produced_us``; nearest-rank percentiles (the ⌈p·n/100⌉-th smallest sample), exact over
  the samples rounded to ``latency_resolution_us`` (1 ms by default; 1 keeps whole microseconds).
  The hour keeps a histogram {rounded latency: count}, so its state stays small however many ticks
  it has. None when the hour has no sample.
"""

from __future__ import annotations

from typing import Any

from processors.core import Record
from processors.marketdata.calendars import SessionCalendar

HOUR_US = 3_600_000_000


class HourStats:
    __slots__ = ("start", "end", "resolution_us", "ticks", "late", "prev_t", "max_gap_us", "latencies",
                 "present_bars")

    def __init__(self, start: int, resolution_us: int = 1000):
        self.start = start
        self.end = start + HOUR_US
        self.resolution_us = resolution_us
        self.ticks = 0
        self.late = 0
        self.prev_t: int | None = None
        self.max_gap_us: int | None = None
        self.latencies: dict[int, int] = {}  # latency in resolution units (rounded) -> samples
        self.present_bars = 0

    def observe(self, t: int, produced_us: int | None) -> None:
        self.ticks += 1
        prev = self.prev_t
        if prev is None:
            self.prev_t = t
        elif t >= prev:
            gap = t - prev
            if self.max_gap_us is None or gap > self.max_gap_us:
                self.max_gap_us = gap
            self.prev_t = t
        if produced_us is not None:
            resolution = self.resolution_us
            bucket = (produced_us - t + resolution // 2) // resolution
            latencies = self.latencies
            latencies[bucket] = latencies.get(bucket, 0) + 1

    def latency_percentiles_ms(self) -> tuple[float | None, float | None, float | None]:
        if not self.latencies:
            return None, None, None
        counts = sorted(self.latencies.items())
        resolution = self.resolution_us
        return (nearest_rank(counts, 50) * resolution / 1000.0, nearest_rank(counts, 95) * resolution / 1000.0,
                nearest_rank(counts, 99) * resolution / 1000.0)

    def snapshot(self) -> list[Any]:
        # The histogram as two flat lists in the dict's own order (deterministic: the order the buckets
        # first occurred, which a restore keeps): copied at C speed. The live worker snapshots every key a
        # commit touched, and an hour can hold thousands of buckets (a pair per bucket cost ~1.4 ms a key).
        latencies = self.latencies
        return [self.start, self.ticks, self.late, self.prev_t, self.max_gap_us,
                {"buckets": list(latencies), "counts": list(latencies.values())}, self.present_bars]

    @classmethod
    def restore(cls, state: list[Any], resolution_us: int) -> HourStats:
        start, ticks, late, prev_t, max_gap_us, latencies, present = state
        stats = cls(start, resolution_us)
        stats.ticks, stats.late, stats.prev_t, stats.max_gap_us = ticks, late, prev_t, max_gap_us
        if isinstance(latencies, dict):
            stats.latencies = dict(zip(latencies["buckets"], latencies["counts"], strict=True))
        else:  # [[bucket, count], ...]: snapshots written before the flat form
            stats.latencies = {bucket: n for bucket, n in latencies}
        stats.present_bars = present
        return stats


def nearest_rank(counts: list[tuple[int, int]], percent: int) -> int:
    """The nearest-rank percentile of samples given as sorted (value, count) pairs: the
    ⌈percent·n/100⌉-th smallest sample (1-based)."""
    rank = max(1, (percent * sum(n for _, n in counts) + 99) // 100)
    seen = 0
    for value, n in counts:
        seen += n
        if seen >= rank:
            return value
    raise ValueError("no samples")


def expected_bars(calendar: SessionCalendar, interval_us: int, lo: int, hi: int) -> int:
    """How many bar intervals (epoch-aligned, clipped to sessions) start in [lo, hi)."""
    count = 0
    for session in calendar.sessions_between(lo, hi):
        a = max(lo, session.start)
        b = min(hi, session.end)
        if a >= b:
            continue
        if a == session.start:
            count += 1  # the session's first (possibly clipped) interval
        first_aligned = -(-max(a, session.start + 1) // interval_us) * interval_us
        if first_aligned < b:
            count += (b - 1 - first_aligned) // interval_us + 1
    return count


class QualityTracker:
    """Open hours of one key and the cursor of the first hour not yet reported."""

    __slots__ = ("venue", "symbol", "calendar", "interval_s", "interval_us", "resolution_us", "max_silent", "hours",
                 "cursor")

    def __init__(self, venue: str, symbol: str, calendar: SessionCalendar, interval_s: int, resolution_us: int,
                 max_silent: int = 64):
        self.venue = venue
        self.symbol = symbol
        self.calendar = calendar
        self.interval_s = interval_s
        self.interval_us = interval_s * 1_000_000
        self.resolution_us = resolution_us
        self.max_silent = max_silent
        self.hours: dict[int, HourStats] = {}
        self.cursor: int | None = None

    def start_at(self, t: int) -> None:
        self.cursor = t - t % HOUR_US

    def stats_for(self, t: int, limit: int) -> HourStats | None:
        """The open hour holding ``t``; None when that hour was already reported (ends <= ``limit``)."""
        start = t - t % HOUR_US
        stats = self.hours.get(start)
        if stats is None:
            cursor = self.cursor
            if cursor is None or start < cursor:
                if start + HOUR_US <= limit:
                    return None
                self.cursor = start  # only right after the first event (an out-of-order tick): nothing reported yet
            stats = self.hours[start] = HourStats(start, self.resolution_us)
        return stats

    def next_end(self) -> int | None:
        return None if self.cursor is None else self.cursor + HOUR_US

    def finalize(self, limit: int) -> list[Record]:
        """Reports every hour ending at or before ``limit`` (= watermark - grace)."""
        out: list[Record] = []
        cursor = self.cursor
        if cursor is None:
            return out
        silent = self.max_silent  # silent hours this move may still report
        while cursor + HOUR_US <= limit:
            stats = self.hours.pop(cursor, None)
            if stats is None and not silent:  # skip to the next hour with ticks or bars, or the limit
                ahead = limit - limit % HOUR_US
                cursor = min(ahead, min(self.hours)) if self.hours else ahead
                if cursor + HOUR_US > limit:
                    break
                continue
            expected = expected_bars(self.calendar, self.interval_us, cursor, cursor + HOUR_US)
            if stats is not None or expected > 0:
                if stats is None:
                    silent -= 1
                out.append(self._record(cursor, stats or HourStats(cursor, self.resolution_us), expected))
                cursor += HOUR_US
                continue
            # nothing to report: jump to the next hour with ticks or session time
            span = self.calendar.span_at(cursor)
            ahead = span.hi - span.hi % HOUR_US if span.session is None else cursor + HOUR_US
            if self.hours:
                ahead = min(ahead, min(self.hours))
            cursor = max(cursor + HOUR_US, min(ahead, limit - limit % HOUR_US))
        self.cursor = cursor
        return out

    def _record(self, start: int, stats: HourStats, expected: int) -> Record:
        p50, p95, p99 = stats.latency_percentiles_ms()
        return {
            "event_id": f"dq:{self.venue}:{self.symbol}:{start}",
            "event_time": start + HOUR_US,
            "venue": self.venue,
            "symbol": self.symbol,
            "hour_start": start,
            "interval_s": self.interval_s,
            "expected_bars": expected,
            "present_bars": stats.present_bars,
            "coverage_pct": 100.0 * stats.present_bars / expected if expected else None,
            "tick_count": stats.ticks,
            "late_ticks": stats.late,
            "max_inter_tick_gap_s": None if stats.max_gap_us is None else stats.max_gap_us / 1_000_000,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
        }

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "hours": [s.snapshot() for _, s in sorted(self.hours.items())]}

    def restore(self, state: dict[str, Any]) -> None:
        self.cursor = state["cursor"]
        self.hours = {}
        for hour_state in state["hours"]:
            stats = HourStats.restore(hour_state, self.resolution_us)
            self.hours[stats.start] = stats
