"""The market-data processor of one ``venue:symbol``: ticks → bars, gaps, indicators, alerts, quality.

Event time only. The key's watermark is the highest event time of its live ticks and heartbeats
(backfill ticks and BackfillComplete markers never move it). A bar interval is finalized — its bar
closed, or counted as a gap — once ``watermark >= end + grace``; output ordering follows the log.

A live tick is, in this order of checks:

* invalid — no finite price (no last, no bid/ask) or a non-finite volume: counted (``invalid_ticks``),
  it only moves the watermark;
* off session (no session of the symbol's calendar holds its event time): no bar; counted
  (``off_session_ticks``) and in the data-quality ``tick_count`` of its hour;
* late (its base-interval bar was already finalized): a ``LateTick`` is emitted and it is counted
  (``late_ticks``, and ``late_ticks`` of the data-quality hour of the watermark); it changes no bar —
  of any interval, so a 5-minute bar is always made of the same ticks as its 1-minute bars;
* otherwise it updates its open bar (also out of order), the data quality of its hour, and — when
  in event-time order — the move alerts.

The per-tick path touches one cached open bar and one cached data-quality hour; everything that
depends on time passing (closing bars, gaps, indicators, hourly figures) runs only when the watermark
crosses the next interval end (``_next_due``).
"""

from __future__ import annotations

from typing import Any, Self

from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.marketdata.alerts import MoveAlerts
from processors.marketdata.backfill import BackfillBuffers, rebuild_bars
from processors.marketdata.bars import OpenBar, bar_piece
from processors.marketdata.calendars import CalendarBook, Session, Span, calendar_book
from processors.marketdata.config import MarketDataConfig
from processors.marketdata.gaps import GapDetector
from processors.marketdata.indicators import Indicators
from processors.marketdata.quality import HourStats, QualityTracker
from processors.marketdata.records import (
    indicator_record,
    late_tick_record,
)
from processors.marketdata.series import BarSeries

SNAPSHOT_VERSION = 1
_NO_WATERMARK = -(2**63)
# never-matching stand-ins for the per-tick caches (start == end, so no instant is inside them)
_NO_BAR = OpenBar(0, 0, Session("", 0, 0), 0, 0.0, 0.0, {"event_id": "", "sequence": 0})
_NO_HOUR = HourStats(0)
_NO_HOUR.end = 0

_IN_SESSION = 0
_OFF_SESSION = 1
_LATE = 2

COUNTER_NAMES = ("late_ticks", "off_session_ticks", "invalid_ticks", "backfill_ticks", "backfill_ticks_skipped")


def _mid(record: Record) -> float | None:
    bid = record["bid"]
    ask = record["ask"]
    if bid is None or ask is None:
        return None
    return (bid + ask) / 2.0


def tick_price(record: Record, use_last: bool) -> float | None:
    """LAST: the last trade, else the mid; MID: the mid, else the last trade; None when neither exists."""
    if use_last:
        price = record["last"]
        return _mid(record) if price is None else price
    price = _mid(record)
    return record["last"] if price is None else price


class MarketDataProcessor(KeyedProcessor):
    def __init__(self, key: str, config: MarketDataConfig | None = None, calendars: CalendarBook | None = None):
        super().__init__(key)
        venue, sep, symbol = key.partition(":")
        if not sep or not venue or not symbol:
            raise ValueError(f"market-data key must be venue:symbol, got {key!r}")
        self.config = config = config or MarketDataConfig()
        self.venue = venue
        self.symbol = symbol
        self.calendar = (calendars or calendar_book(config)).for_key(venue, symbol)  # may refuse the key
        self.grace_us = config.grace_us
        self.price_source = config.price_source
        self.use_last = config.price_source == "LAST"
        self.series = [
            BarSeries(interval, self.calendar, GapDetector(venue, symbol, interval,
                                                           max(1, config.gap_report_max_s // interval)),
                      config.max_reports_per_advance)
            for interval in config.intervals_s
        ]
        self.indicators = [Indicators(config) for _ in config.intervals_s]
        self.alerts = MoveAlerts(venue, symbol, config.move_threshold_pct, config.move_window_s,
                                 config.alert_throttle_s)
        self.quality = QualityTracker(venue, symbol, self.calendar, config.base_interval_s,
                                      config.latency_resolution_us, config.max_reports_per_advance)
        self.backfills = BackfillBuffers()
        self.revisions: dict[tuple[int, int], int] = {}  # (interval_s, bar start) -> last revision emitted
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.watermark = _NO_WATERMARK
        self._base = self.series[0]
        self._next_due = _NO_WATERMARK  # the first live event starts the clock
        self._bar = _NO_BAR
        self._hour = _NO_HOUR
        self._span = Span(None, 0, 0)

    # ------------------------------------------------------------------ events
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema != "PriceTick":
            return self._on_control(schema, record)
        out: list[Emit] = []
        if record.get("backfill_id") is not None:
            self._buffer_backfill(record)
            return out
        t = record["event_time"]
        if self.use_last:
            price = record["last"]
            if price is None:
                price = _mid(record)
        else:
            price = _mid(record)
            if price is None:
                price = record["last"]
        volume = record["volume"]
        if t > self.watermark:
            self.watermark = t
            if t >= self._next_due:
                self._advance(out)
        if price is None or price - price != 0.0 or volume - volume != 0.0:  # x - x is NaN for NaN and ±inf
            self.counters["invalid_ticks"] += 1
            return out
        bar = self._bar
        if bar.start <= t < bar.end:
            bar.add(t, price, volume, record)
            in_session = True
        else:
            placed = self._place(record, t, price, volume, out)
            if placed == _LATE:
                return out
            in_session = placed == _IN_SESSION
        hour = self._hour
        if not hour.start <= t < hour.end:
            hour = self._hour_of(t)
            if hour is None:  # an off-session tick of an hour already reported: only counted
                return out
        hour.observe(t, record.get("_produced_us"))
        if in_session:
            alert = self.alerts.observe(t, price, record["event_id"])
            if alert is not None:
                # keyed like the input (not by alert_key) so it belongs to its partition's transaction
                out.append(Emit(topics.MD_ALERTS, self.key, "Alert", alert))
        return out

    def _on_control(self, schema: str, record: Record) -> list[Emit]:
        name = schema.rpartition(".")[2]
        out: list[Emit] = []
        if name == "Heartbeat":
            t = record["event_time"]
            if t > self.watermark:
                self.watermark = t
                if t >= self._next_due:
                    self._advance(out)
        elif name == "BackfillComplete":
            self._complete_backfill(record, out)
        elif name == "PriceTick":
            return self.on_event("PriceTick", record)
        else:
            raise ValueError(f"the market-data processor does not handle {schema!r} events")
        return out

    # ------------------------------------------------------------------ ticks (slow path)
    def _place(self, record: Record, t: int, price: float, volume: float, out: list[Emit]) -> int:
        """A tick outside the cached bar: finds (or opens) its bar, or tells it is off session or late."""
        span = self._span
        if not span.lo <= t < span.hi:
            span = self._span = self.calendar.span_at(t)
        session = span.session
        if session is None:
            self.counters["off_session_ticks"] += 1
            return _OFF_SESSION
        base = self._base
        start, end = bar_piece(t, base.interval_us, session)
        if end + self.grace_us <= self.watermark:
            self._late(record, out)
            return _LATE
        bar = base.open_bars.get(start)
        if bar is None:
            bar = base.open_bars[start] = OpenBar(start, end, session, t, price, volume, record)
            if base.cursor is not None and start < base.cursor:
                base.lower_cursor(start)
                self._next_due = min(self._next_due, end + self.grace_us)
        else:
            bar.add(t, price, volume, record)
        self._bar = bar
        return _IN_SESSION

    def _late(self, record: Record, out: list[Emit]) -> None:
        watermark = self.watermark
        out.append(Emit(topics.LATE_TICKS, self.key, "LateTick", late_tick_record(record, watermark)))
        self.counters["late_ticks"] += 1
        hour = self.quality.stats_for(watermark, watermark - self.grace_us)
        if hour is not None:
            hour.late += 1

    def _hour_of(self, t: int) -> HourStats | None:
        hour = self.quality.stats_for(t, self.watermark - self.grace_us)
        if hour is not None:
            self._hour = hour
            self._next_due = min(self._next_due, hour.end + self.grace_us)
        return hour

    # ------------------------------------------------------------------ time passing
    def _advance(self, out: list[Emit]) -> None:
        """The watermark reached ``_next_due``: finalizes bar intervals and hours that are due."""
        watermark = self.watermark
        if self._base.cursor is None:  # the key's first live event
            for series in self.series:
                series.start_at(watermark)
            self.quality.start_at(watermark)
        limit = watermark - self.grace_us
        key = self.key
        for index, series in enumerate(self.series):
            for item in series.finalize(limit, watermark):
                if isinstance(item, OpenBar):
                    self._emit_bar(index, item, limit, out)
                else:
                    out.append(Emit(topics.GAPS, key, "Gap", item))
        for record in self.quality.finalize(limit):
            out.append(Emit(topics.QUALITY, key, "DataQuality", record))
        self._next_due = self._due_after()
        self._bar = _NO_BAR
        self._hour = _NO_HOUR

    def _emit_bar(self, index: int, bar: OpenBar, limit: int, out: list[Emit]) -> None:
        series = self.series[index]
        volume, notional = bar.totals()
        record = bar.record(self.venue, self.symbol, series.interval_s, self.price_source, 0, volume, notional)
        out.append(Emit(topics.BARS, self.key, "Bar", record))
        values = self.indicators[index].on_bar(bar.high, bar.low, bar.close)
        out.append(Emit(topics.INDICATORS, self.key, "IndicatorSet", indicator_record(record, values)))
        if index == 0:
            hour = self.quality.stats_for(bar.start, limit)
            if hour is not None:
                hour.present_bars += 1
            for longer in self.series[1:]:
                longer.fold(bar, volume, notional)

    def _due_after(self) -> int:
        ends = [series.next_end() for series in self.series]
        ends.append(self.quality.next_end())
        return min(e for e in ends if e is not None) + self.grace_us

    # ------------------------------------------------------------------ backfill
    def _buffer_backfill(self, record: Record) -> None:
        price = tick_price(record, self.use_last)
        volume = record["volume"]
        if price is None or price - price != 0.0 or volume - volume != 0.0:
            self.counters["invalid_ticks"] += 1
            return
        self.counters["backfill_ticks"] += 1
        self.backfills.add(record["backfill_id"], record["event_time"], record["sequence"], price, volume,
                           record["event_id"])

    def _complete_backfill(self, record: Record, out: list[Emit]) -> None:
        ticks = self.backfills.take(record["backfill_id"])
        closed_until = self.watermark - self.grace_us
        intervals_us = [series.interval_us for series in self.series]
        rebuilt, skipped = rebuild_bars(ticks, self.calendar, intervals_us, record["start"], record["end"],
                                        closed_until)
        self.counters["backfill_ticks_skipped"] += skipped
        for series, bars in zip(self.series, rebuilt, strict=True):
            for bar in bars:
                bar_key = (series.interval_s, bar.start)
                revision = self.revisions.get(bar_key, 0) + 1
                self.revisions[bar_key] = revision
                volume, notional = bar.totals()
                bar_record = bar.record(self.venue, self.symbol, series.interval_s, self.price_source, revision,
                                        volume, notional)
                out.append(Emit(topics.BARS, self.key, "Bar", bar_record))

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "watermark": None if self.watermark == _NO_WATERMARK else self.watermark,
            "series": [series.snapshot() for series in self.series],
            "indicators": [indicators.snapshot() for indicators in self.indicators],
            "alerts": self.alerts.snapshot(),
            "quality": self.quality.snapshot(),
            "backfills": self.backfills.snapshot(),
            "revisions": [[interval, start, rev] for (interval, start), rev in sorted(self.revisions.items())],
            "counters": dict(self.counters),
        }

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        """``config``: ``config=MarketDataConfig`` and ``calendars=CalendarBook``, both optional."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown market-data snapshot version {state.get('version')!r}")
        proc = cls(key, config.get("config"), config.get("calendars"))
        if len(state["series"]) != len(proc.series):
            raise ValueError("the snapshot was taken with other bar intervals")
        proc.watermark = _NO_WATERMARK if state["watermark"] is None else state["watermark"]
        for series, series_state in zip(proc.series, state["series"], strict=True):
            series.restore(series_state)
        for indicators, indicators_state in zip(proc.indicators, state["indicators"], strict=True):
            indicators.restore(indicators_state)
        proc.alerts.restore(state["alerts"])
        proc.quality.restore(state["quality"])
        proc.backfills.restore(state["backfills"])
        proc.revisions = {(interval, start): rev for interval, start, rev in state["revisions"]}
        proc.counters.update(state["counters"])
        if proc._base.cursor is not None:
            proc._next_due = proc._due_after()
        return proc
