"""The scanner: one processor per scanner (the key of ``scanner.snapshots.v1``), pure, on event time.

Per :class:`ScanSnapshot` (a scanner's full result at one instant):

1. The whole snapshot is refused (:class:`~processors.admission.Refused`: dead letter with its reason) when
   its event time is behind the last snapshot's, or outside every session of the US equity calendar (the
   market-data pipeline's, :mod:`processors.marketdata.calendars`: holidays have none, early closes move
   the post-market). The snapshot's own ``session`` field is not trusted: the calendar decides.
2. A bad row alone is refused (``scanner.rejected.v1``): a ticker listed twice (the later rows), a
   non-finite or non-positive price or previous close, a negative volume, a non-finite optional number, a
   ticker beyond ``max_tickers`` of the day.
3. Each ticker's day (previous close, last pre-market print, regular open and close, high, low, last
   price and volume, last print) is kept in columns (numpy arrays, one slot per ticker of the day, so
   5,000 tickers score in a few milliseconds); features, filters and scores are computed a column at a
   time, categories ranked by (score desc, ticker).
4. Outputs: alerts, board deltas, changed results (and tombstones), a board summary; the top N to persist
   at each interval boundary (event time) and at the session's close.

The day ends when a snapshot of another trading day arrives: every result is tombstoned, every board
emptied (LEFT deltas), and the day's state cleared; only the boards' sequence numbers carry on.

Hand-written rather than with pandas: a DataFrame per 10-second snapshot costs more than the scoring
itself (a few hundred µs per operation); numpy columns keep one snapshot of 5,000 tickers under the
issue's 20 ms budget.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Self
from zoneinfo import ZoneInfo

import numpy as np

from processors import commands as cmd
from processors import topics
from processors.admission import Refused, iso
from processors.alerts.throttle import AlertThrottle
from processors.core import TOMBSTONE, Emit, KeyedProcessor, Record
from processors.marketdata.calendars import SessionCalendar
from processors.scanner import records as R
from processors.scanner.config import ScannerConfig

_FLOAT_COLUMNS = ("prev_close", "pre_last", "open", "close", "high", "low", "last", "volume")
_BOOL_COLUMNS = ("halted", "gap_out", "rvol_hot")
_INF = math.inf
_KIND_CODES = {R.NEW_HIGH: "H", R.NEW_LOW: "L", R.GAP: "G", R.RVOL_SPIKE: "V", R.HALT: "X", R.RESUME: "R"}


def _r(x: np.ndarray) -> np.ndarray:
    """Features and scores are rounded to 6 decimals: equal inputs give equal scores (ties are real ties,
    broken by ticker), and the records carry readable numbers."""
    return np.round(x, 6)


class ScannerProcessor(KeyedProcessor):
    def __init__(self, key: str, config: ScannerConfig, calendar: SessionCalendar):
        super().__init__(key)
        self.config = config
        self.calendar = calendar
        self._zone = ZoneInfo(config.us_equities.timezone)
        self.last_time: int | None = None
        self.day: str | None = None
        self.session: str | None = None
        self.session_end = 0
        self.persist_next: int | None = None  # the next as-of instant to persist (None: the close is done)
        self.tickers: list[str] = []
        self.index: dict[str, int] = {}
        self.cols: dict[str, np.ndarray] = {}
        self._alloc(0)
        # session -> category -> tickers in rank order (the hot board)
        self.boards: dict[str, dict[str, list[str]]] = {}
        # session -> ticker -> its published ScanResult values (what the compacted topic holds)
        self.published: dict[str, dict[str, list[Any]]] = {}
        self.sequences: dict[str, int] = {}  # "session:category" -> last delta's sequence (never cleared)
        self.throttle = AlertThrottle(config.alert_throttle_us)

    # ------------------------------------------------------------------ columns
    def _alloc(self, capacity: int) -> None:
        cols = {name: np.zeros(capacity) for name in _FLOAT_COLUMNS}
        cols["print_us"] = np.zeros(capacity, dtype=np.int64)
        for name in _BOOL_COLUMNS:
            cols[name] = np.zeros(capacity, dtype=bool)
        for name, old in self.cols.items():
            cols[name][: len(old)] = old
        self.cols = cols

    def _slots(self, tickers: list[str]) -> tuple[np.ndarray, list[int]]:
        """Each ticker's slot (new tickers get one); rows beyond ``max_tickers`` are listed as refused."""
        index, get = self.index, self.index.get
        slots = [get(tk, -1) for tk in tickers]
        full: list[int] = []
        if -1 in slots:
            for j, s in enumerate(slots):
                if s < 0:
                    if len(self.tickers) >= self.config.max_tickers:
                        full.append(j)
                        continue
                    slots[j] = index[tickers[j]] = len(self.tickers)
                    self.tickers.append(tickers[j])
            capacity = len(self.cols["last"])
            if len(self.tickers) > capacity:
                self._alloc(max(len(self.tickers), 2 * capacity, 64))
        return np.array(slots, dtype=np.int64), full

    # ------------------------------------------------------------------ events
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if schema == "Command":
            return self._command(record)
        t = record["event_time"]
        if self.last_time is not None and t < self.last_time:
            raise Refused(R.EVENT_TIME_BEHIND, f"event_time {iso(t)} is behind the scanner's last snapshot "
                                               f"{iso(self.last_time)}")
        session = self.calendar.span_at(t).session
        if session is None:
            raise Refused(R.OUTSIDE_SESSION, f"event_time {iso(t)} is outside every US equity session")
        name = R.SESSIONS[session.name]
        day = datetime.fromtimestamp(session.start / 1_000_000, UTC).astimezone(self._zone).date().isoformat()
        out: list[Emit] = []
        if self.session is not None:
            out.extend(self._persist_due(t if day == self.day and name == self.session else self.session_end))
        if self.day is not None and day != self.day:
            out.extend(self._end_day(t))
        if name != self.session or day != self.day:
            for ended in self.published.values():  # a finished session's lines are only tombstoned later: the
                for ticker in ended:  # keys are enough (a smaller saved state)
                    ended[ticker] = []
            self.day, self.session, self.session_end = day, name, session.end
            self.persist_next = self._next_point(t)
            self.boards.setdefault(name, {})
            self.published.setdefault(name, {})
        self.last_time = t
        out.extend(self._scan(t, record))
        if t + self.config.snapshot_every_us >= self.session_end:  # the session's last snapshot
            out.extend(self._persist_due(self.session_end))
        return out

    def _scan(self, t: int, record: Record) -> list[Emit]:
        cfg, key, session = self.config, self.key, self.session
        assert session is not None
        out: list[Emit] = []
        rows = record["rows"]
        n = len(rows)
        tickers = [r["ticker"] for r in rows]
        price = np.fromiter((r["price"] for r in rows), float, n)
        prev_close = np.fromiter((r["prev_close"] for r in rows), float, n)
        volume = np.fromiter((r["volume"] for r in rows), float, n)
        avg_volume = np.fromiter((r["avg_volume"] for r in rows), float, n)
        # optional numbers: None (NaN here; the doors refuse a NaN itself) -> -1 (rvol) / 0 (high, low)
        rvol_in = np.array([r["relative_volume"] for r in rows], dtype=float)
        rvol_in[np.isnan(rvol_in)] = -1.0
        high_in = np.nan_to_num(np.array([r["high"] for r in rows], dtype=float), nan=0.0, posinf=-_INF)
        low_in = np.nan_to_num(np.array([r["low"] for r in rows], dtype=float), nan=0.0, posinf=-_INF)

        # ---- bad rows: that row alone
        with np.errstate(invalid="ignore"):
            bad_price = ~(np.isfinite(price) & (price > 0) & np.isfinite(prev_close) & (prev_close > 0))
            bad_volume = (volume < 0) | (avg_volume < 0)
            bad_number = ~(np.isfinite(rvol_in) & np.isfinite(high_in) & np.isfinite(low_in)) | (
                (rvol_in < 0) & (rvol_in != -1.0)) | (high_in < 0) | (low_in < 0)
        reasons: dict[int, tuple[str, str]] = {}
        if len(set(tickers)) != n:
            seen: set[str] = set()
            for j, tk in enumerate(tickers):
                if tk in seen:
                    reasons[j] = (R.DUPLICATE_TICKER, f"{tk} is listed more than once; the first row is used")
                seen.add(tk)
        if bad_price.any() or bad_volume.any() or bad_number.any():
            for j in np.flatnonzero(bad_price | bad_volume | bad_number).tolist():
                if j in reasons:
                    continue
                r = rows[j]
                if bad_price[j]:
                    reasons[j] = (R.BAD_PRICE, f"price {r['price']!r} and prev_close {r['prev_close']!r} must be "
                                               "finite and > 0")
                elif bad_volume[j]:
                    reasons[j] = (R.NEGATIVE_VOLUME, f"volume {r['volume']} and avg_volume {r['avg_volume']} must "
                                                     "be >= 0")
                else:
                    reasons[j] = (R.BAD_NUMBER, "relative_volume, high and low must be finite and >= 0 when given")
        if reasons:
            keep = np.ones(n, dtype=bool)
            keep[list(reasons)] = False
            take = np.flatnonzero(keep)
            tickers = [tickers[j] for j in take.tolist()]
            price, prev_close, volume, avg_volume = price[take], prev_close[take], volume[take], avg_volume[take]
            rvol_in, high_in, low_in = rvol_in[take], high_in[take], low_in[take]
            rows_kept = take
        else:
            rows_kept = None
        slots, full = self._slots(tickers)
        if full:
            for j in full:
                at = j if rows_kept is None else int(rows_kept[j])
                reasons[at] = (R.UNIVERSE_FULL, f"the scanner already follows {cfg.max_tickers} tickers today")
            keep = np.ones(len(tickers), dtype=bool)
            keep[full] = False
            take = np.flatnonzero(keep)
            tickers = [tickers[j] for j in take.tolist()]
            price, prev_close, volume, avg_volume = price[take], prev_close[take], volume[take], avg_volume[take]
            rvol_in, high_in, low_in, slots = rvol_in[take], high_in[take], low_in[take], slots[take]
        for j in sorted(reasons):
            reason, error = reasons[j]
            out.append(Emit(topics.SCAN_REJECTED, key, "ScanRowRejected", {
                "event_id": f"{key}:{t}:rejected:{j}", "event_time": t, "scanner": key,
                "snapshot_event_id": record["event_id"], "row_index": j, "ticker": str(rows[j].get("ticker")),
                "reason": reason, "error": error}))

        # ---- the tickers' day
        c = self.cols
        last_before = c["last"][slots]
        first = last_before == 0.0
        high_before, low_before = c["high"][slots], c["low"][slots]
        high = np.maximum(np.where(high_before > 0, high_before, price), price)
        high = np.maximum(high, high_in)
        low = np.minimum(np.where(low_before > 0, low_before, price), price)
        low = np.minimum(low, np.where(low_in > 0, low_in, _INF))
        printed = first | (volume > c["volume"][slots])
        print_us = np.where(printed, t, c["print_us"][slots])
        age = t - print_us
        if session == R.PRE_MARKET:
            c["pre_last"][slots] = price
        elif session == R.REGULAR:
            opened = c["open"][slots]
            c["open"][slots] = np.where(opened > 0, opened, price)
            c["close"][slots] = price
        open_ = c["open"][slots]
        if session == R.POST_MARKET:
            closed = c["close"][slots]
            base = np.where(closed > 0, closed, prev_close)
        else:
            base = prev_close
        change = _r((price / base - 1.0) * 100.0)
        change_open = _r(np.where(open_ > 0, (price / np.where(open_ > 0, open_, 1.0) - 1.0) * 100.0, 0.0))
        if session == R.PRE_MARKET:
            gap = _r((price / prev_close - 1.0) * 100.0)
        else:
            ref = np.where(open_ > 0, open_, c["pre_last"][slots])
            gap = _r(np.where(ref > 0, (ref / prev_close - 1.0) * 100.0, 0.0))
        known_rvol = (rvol_in >= 0) | (avg_volume > 0)
        rvol = _r(np.where(rvol_in >= 0, rvol_in, volume / np.where(avg_volume > 0, avg_volume, 1.0)))
        rvol = np.where(known_rvol, rvol, 0.0)
        momentum = _r(np.where(first, 0.0, (price / np.where(first, 1.0, last_before) - 1.0) * 100.0))
        features = {
            "change_pct": change,
            "change_open_pct": change_open,
            "gap_pct": gap,
            "relative_volume": rvol,
            "log_volume": _r(np.log10(1.0 + volume)),
            "momentum_pct": momentum,
            "high_distance_pct": _r((high - price) / high * 100.0),
            "low_distance_pct": _r((price - low) / low * 100.0),
            "at_high": (price >= high).astype(float),
            "at_low": (price <= low).astype(float),
        }

        # ---- alerts (judged before the day's columns move on)
        kinds: list[tuple[str, np.ndarray, np.ndarray, float | None]] = []
        kinds.append((R.NEW_HIGH, ~first & (high_before > 0) & (price > high_before), price, None))
        kinds.append((R.NEW_LOW, ~first & (low_before > 0) & (price < low_before), price, None))
        gap_out = np.abs(gap) >= cfg.gap_alert_pct
        kinds.append((R.GAP, gap_out & ~c["gap_out"][slots], gap, cfg.gap_alert_pct))
        hot = known_rvol & (rvol >= cfg.rvol_spike)
        kinds.append((R.RVOL_SPIKE, hot & ~c["rvol_hot"][slots], rvol, cfg.rvol_spike))
        halted_before = c["halted"][slots]
        halting = ~printed & (age >= cfg.halt_after_us) & ~halted_before
        resuming = printed & halted_before
        kinds.append((R.HALT, halting, age / 1_000_000.0, cfg.halt_after_s))
        kinds.append((R.RESUME, resuming, price, None))
        fired: list[tuple[str, str, int, float, float | None]] = []
        for kind, mask, values, threshold in kinds:
            if mask.any():
                for j in np.flatnonzero(mask).tolist():
                    fired.append((tickers[j], kind, j, float(values[j]), threshold))
        fired.sort()
        for ticker, kind, j, value, threshold in fired:
            alert = self._alert(t, record, ticker, kind, float(price[j]), value, threshold)
            if alert is not None:
                out.append(Emit(topics.SCAN_ALERTS, f"{key}:{ticker}", "ScanAlert", alert))

        c["gap_out"][slots] = gap_out
        c["rvol_hot"][slots] = hot
        c["halted"][slots] = (halted_before | halting) & ~resuming
        c["high"][slots], c["low"][slots], c["last"][slots] = high, low, price
        c["volume"][slots], c["print_us"][slots], c["prev_close"][slots] = volume, print_us, prev_close

        # ---- filters, scores, ranks
        passed = (price >= cfg.min_price) & (volume >= cfg.min_volume) & (age <= cfg.stale_after_us)
        if cfg.max_price is not None:
            passed &= price <= cfg.max_price
        if cfg.min_relative_volume > 0:
            passed &= known_rvol & (rvol >= cfg.min_relative_volume)
        board = self.boards[session]
        ranked: dict[str, tuple[list[int], list[float]]] = {}
        for category, rule in cfg.categories.items():
            mask = passed.copy()
            for f, v in rule.above.items():
                mask &= features[f] > v
            for f, v in rule.below.items():
                mask &= features[f] < v
            candidates = np.flatnonzero(mask)
            score = np.zeros(len(candidates))
            for f, w in rule.weights.items():
                score += w * features[f][candidates]
            ranked[category] = self._top(candidates, _r(score), tickers, cfg.board_size)

        # ---- deltas per board
        for category, (order, sc) in ranked.items():
            new = [tickers[j] for j in order]
            old = board.get(category, [])
            delta = self._delta(t, session, category, old, new, sc)
            if delta is not None:
                out.append(delta)
            board[category] = new

        # ---- results (changed lines), tombstones, summary
        placed: dict[int, list[dict[str, Any]]] = {}
        for category, (order, sc) in ranked.items():
            for rank, (j, score_j) in enumerate(zip(order, sc, strict=True), 1):
                placed.setdefault(j, []).append({"category": category, "rank": rank, "score": score_j})
        published = self.published[session]
        values_of: dict[str, list[Any]] = {}
        lines = sorted(placed, key=tickers.__getitem__)
        at = np.array(lines, dtype=np.int64)
        columns = zip(price[at].tolist(), change[at].tolist(), change_open[at].tolist(), gap[at].tolist(),
                      volume[at].astype(np.int64).tolist(), rvol[at].tolist(), known_rvol[at].tolist(),
                      high[at].tolist(), low[at].tolist(), strict=True)
        pre = session == R.PRE_MARKET
        for j, (p_j, ch_j, cho_j, gap_j, vol_j, rv_j, krv_j, hi_j, lo_j) in zip(lines, columns, strict=True):
            ticker = tickers[j]
            values = [p_j, ch_j, None if pre else cho_j, gap_j, vol_j, rv_j if krv_j else None, hi_j, lo_j,
                      placed[j]]
            values_of[ticker] = values
            if published.get(ticker) != values:
                published[ticker] = values
                out.append(Emit(topics.SCAN_RESULTS, f"{key}:{session}:{ticker}", "ScanResult",
                                self._result(t, session, ticker, values)))
        for ticker in sorted(set(published) - set(values_of)):
            del published[ticker]
            out.append(Emit(topics.SCAN_RESULTS, f"{key}:{session}:{ticker}", TOMBSTONE, {"event_time": t}))
        out.append(Emit(topics.SCAN_BOARDS, f"{key}:{session}", "ScanBoard",
                        self._summary(t, record, session, n, len(reasons), int(passed.sum()))))
        return out

    @staticmethod
    def _top(candidates: np.ndarray, score: np.ndarray, tickers: list[str], k: int) -> tuple[list[int], list[float]]:
        """The best ``k`` candidates by (score desc, ticker asc), and their scores. A partition first keeps
        every candidate that ties with the k-th score, so the tie-break sees them all."""
        if len(candidates) > k:
            kth = np.partition(score, len(score) - k)[len(score) - k]
            keep = score >= kth
            candidates, score = candidates[keep], score[keep]
        best = sorted(zip((-score).tolist(), [tickers[j] for j in candidates.tolist()], candidates.tolist(),
                          strict=True))[:k]
        return [j for _, _, j in best], [-s for s, _, _ in best]

    def _delta(self, t: int, session: str, category: str, old: list[str], new: list[str],
               score: list[float]) -> Emit | None:
        if old == new:
            return None
        old_rank = {tk: r for r, tk in enumerate(old, 1)}
        changes: list[Record] = []
        for r, (tk, s) in enumerate(zip(new, score, strict=True), 1):
            was = old_rank.pop(tk, None)
            if was is None:
                changes.append({"ticker": tk, "change": "ENTERED", "from_rank": None, "to_rank": r, "score": s})
            elif was != r:
                changes.append({"ticker": tk, "change": "MOVED", "from_rank": was, "to_rank": r, "score": s})
        for tk, was in sorted(old_rank.items(), key=lambda kv: kv[1]):
            changes.append({"ticker": tk, "change": "LEFT", "from_rank": was, "to_rank": None, "score": None})
        if not changes:
            return None
        board = f"{session}:{category}"
        seq = self.sequences[board] = self.sequences.get(board, 0) + 1
        return Emit(topics.SCAN_DELTAS, f"{self.key}:{board}", "ScanDelta", {
            "event_id": f"{self.key}:{board}:{seq}", "event_time": t, "scanner": self.key, "trading_day": self.day,
            "session": session, "category": category, "sequence": seq, "size": len(new), "changes": changes})

    def _result(self, t: int, session: str, ticker: str, values: list[Any]) -> Record:
        price, change, change_open, gap, volume, rvol, high, low, placed = values
        return {"event_id": f"{self.key}:{session}:{ticker}:{t}", "event_time": t, "scanner": self.key,
                "trading_day": self.day, "session": session, "ticker": ticker, "price": price, "change_pct": change,
                "change_open_pct": change_open, "gap_pct": gap, "volume": volume, "relative_volume": rvol,
                "day_high": high, "day_low": low, "categories": placed}

    def _summary(self, t: int, record: Record, session: str, rows: int, refused: int, passed: int) -> Record:
        board, published, top = self.boards[session], self.published[session], self.config.summary_top
        categories = []
        for category in self.config.categories:
            names = board.get(category, [])
            lines = []
            for rank, tk in enumerate(names[:top], 1):
                v = published[tk]
                score = next(p["score"] for p in v[8] if p["category"] == category)
                lines.append({"rank": rank, "ticker": tk, "score": score, "price": v[0], "change_pct": v[1]})
            categories.append({"category": category, "count": len(names),
                               "sequence": self.sequences.get(f"{session}:{category}", 0), "top": lines})
        return {"event_id": f"{self.key}:{session}:board:{t}", "event_time": t, "scanner": self.key,
                "trading_day": self.day, "session": session, "snapshot_event_id": record["event_id"],
                "taken_at": record.get("taken_at", t), "rows": rows, "rows_refused": refused, "rows_passed": passed,
                "categories": categories}

    def _alert(self, t: int, record: Record, ticker: str, kind: str, price: float, value: float,
               threshold: float | None) -> Record | None:
        # one throttle per scanner: its keys are ticker:kind code (short: the state holds one per ticker and kind)
        suppressed = self.throttle.admit(f"{ticker}:{_KIND_CODES[kind]}", t)
        alert_key = f"{self.key}:{ticker}:{kind}"
        if suppressed is None:
            return None
        if kind == R.NEW_HIGH:
            text = f"{ticker} new high of day {price:g}"
        elif kind == R.NEW_LOW:
            text = f"{ticker} new low of day {price:g}"
        elif kind == R.GAP:
            text = f"{ticker} gap {value:+.2f}% (threshold {threshold:g}%)"
        elif kind == R.RVOL_SPIKE:
            text = f"{ticker} relative volume {value:.2f} (threshold {threshold:g})"
        elif kind == R.HALT:
            text = f"{ticker} halted? no print for {value:.0f} s"
        else:
            text = f"{ticker} printing again at {price:g}"
        return {"event_id": f"{alert_key}:{t}", "event_time": t, "alert_key": alert_key, "scanner": self.key,
                "trading_day": self.day, "session": self.session, "ticker": ticker, "kind": kind, "message": text,
                "price": price, "value": value, "threshold": threshold, "suppressed_count": suppressed,
                "caused_by": record["event_id"]}

    # ------------------------------------------------------------------ persistence points
    def _command(self, c: Record) -> list[Emit]:
        """PERSIST_SCANNER_BOARD (an operator's, via mercado api, on this scanner's snapshot log): the current
        session's top N per category now, trigger ``manual``, as of the command's event time (or the last
        snapshot's, when that is later). The clock does not move: a snapshot older than the command still
        comes in."""
        at = c["event_time"] if self.last_time is None else max(c["event_time"], self.last_time)
        out: list[Emit] = []
        if c["kind"] != cmd.PERSIST_SCANNER_BOARD:
            reason, message = cmd.UNKNOWN_KIND, f"the scanner does not handle {c['kind']}"
        else:
            out = self.top_entries(at, R.MANUAL)
            if out:
                reason, message = None, f"{len(out)} top entries of the {self.session} board persisted"
            else:
                reason, message = cmd.BOARD_EMPTY, f"the board of scanner {self.key} is empty: nothing to persist"
        result = cmd.command_result(c, at, reason, message, [e.record["event_id"] for e in out])
        return [*out, Emit(topics.COMMAND_RESULTS, c["idempotency_key"], "CommandResult", result)]

    def _next_point(self, after: int) -> int:
        every = self.config.persist_every_us
        return min((after // every + 1) * every, self.session_end)

    def _persist_due(self, upto: int) -> list[Emit]:
        out: list[Emit] = []
        while self.persist_next is not None and self.persist_next <= upto:
            at = self.persist_next
            trigger = R.CLOSE if at >= self.session_end else R.HOURLY
            out.extend(self.top_entries(at, trigger))
            self.persist_next = None if trigger == R.CLOSE else self._next_point(at)
        return out

    def top_entries(self, at: int, trigger: str, session: str | None = None) -> list[Emit]:
        """The top ``persist_top_n`` of each category of a session's board, as of ``at``."""
        session = session or self.session
        if session is None:
            return []
        board, published, n = self.boards.get(session, {}), self.published.get(session, {}), self.config.persist_top_n
        out: list[Emit] = []
        for category in self.config.categories:
            for tk in board.get(category, [])[:n]:
                line = self._result(at, session, tk, published[tk])
                out.append(Emit(topics.SCAN_TOP, f"{self.key}:{session}:{category}", "ScanTopEntry",
                                R.top_entry(line, category, at, trigger)))
        return out

    # ------------------------------------------------------------------ day end
    def _end_day(self, t: int) -> list[Emit]:
        """Every board emptied (LEFT deltas), every result tombstoned, the day's state cleared."""
        out: list[Emit] = []
        for session in sorted(self.boards):
            for category, old in self.boards[session].items():
                delta = self._delta(t, session, category, old, [], [])
                if delta is not None:
                    out.append(delta)
            for ticker in sorted(self.published.get(session, {})):
                out.append(Emit(topics.SCAN_RESULTS, f"{self.key}:{session}:{ticker}", TOMBSTONE, {"event_time": t}))
        self.boards, self.published = {}, {}
        self.tickers, self.index, self.cols = [], {}, {}
        self._alloc(0)
        self.throttle = AlertThrottle(self.config.alert_throttle_us)
        self.session = None
        return out

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-able data, compact (the live worker writes it to one changelog message, which
        Kafka bounds at 1 MB by default: about 100 bytes per ticker of the day here): flags as "0"/"1"
        strings, last prints and throttle times as offsets from the last snapshot's time."""
        n, now = len(self.tickers), self.last_time or 0
        cols: dict[str, Any] = {}
        for name, col in self.cols.items():
            if name in _BOOL_COLUMNS:
                cols[name] = "".join("1" if x else "0" for x in col[:n].tolist())
            elif name == "print_us":
                cols[name] = (now - col[:n]).tolist()
            else:
                cols[name] = col[:n].tolist()
        last = self.throttle.last
        return {
            "last_time": self.last_time, "day": self.day, "session": self.session, "session_end": self.session_end,
            "persist_next": self.persist_next, "tickers": list(self.tickers), "cols": cols,
            "boards": self.boards, "published": self.published, "sequences": dict(sorted(self.sequences.items())),
            "throttle": {"keys": list(last), "ago": [now - x for x in last.values()],
                         "suppressed": dict(self.throttle.suppressed), "since_prune": self.throttle._since_prune},
        }

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        proc = cls(key, config["config"], config["calendar"])
        proc.last_time, proc.day, proc.session = state["last_time"], state["day"], state["session"]
        proc.session_end, proc.persist_next = state["session_end"], state["persist_next"]
        proc.tickers = list(state["tickers"])
        proc.index = {tk: i for i, tk in enumerate(proc.tickers)}
        now = proc.last_time or 0
        proc.cols = {}
        for name, values in state["cols"].items():
            if name in _BOOL_COLUMNS:
                proc.cols[name] = np.array([c == "1" for c in values], dtype=bool)
            elif name == "print_us":
                proc.cols[name] = now - np.array(values, dtype=np.int64)
            else:
                proc.cols[name] = np.array(values, dtype=float)
        proc.boards = {s: {c: list(v) for c, v in b.items()} for s, b in state["boards"].items()}
        proc.published = {s: {tk: list(v) for tk, v in p.items()} for s, p in state["published"].items()}
        proc.sequences = dict(state["sequences"])
        throttle = state["throttle"]
        proc.throttle = AlertThrottle.restore(
            {"last": {k: now - ago for k, ago in zip(throttle["keys"], throttle["ago"], strict=True)},
             "suppressed": throttle["suppressed"], "since_prune": throttle["since_prune"]},
            proc.config.alert_throttle_us)
        return proc
