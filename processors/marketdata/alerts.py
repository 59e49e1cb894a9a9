"""Price-move alerts on event time, throttled per symbol.

The move of a tick is measured against the lowest and highest price of the trailing window
[t - window, t] (the tick included), kept in two monotonic deques (O(1) amortized per tick):
up = (price - low) / low, down = (high - price) / high; the larger one is the move. A move
*more than* the threshold (price - low > threshold × low, or the same downwards) triggers.

``steps`` = floor(move / threshold) (0.6 % → 1, 1.0 % → 2 with a 0.5 % threshold); the level is
WARNING for 1 step, ERROR for 2–3, CRITICAL for 4 or more.

Throttling, per symbol: after an alert, further triggers within ``alert_throttle_s`` are suppressed
(counted) unless the move reaches at least one more step than the last alert's (an escalation);
the next alert carries the number of suppressed triggers (each tick that triggered while throttled).

Only in-session, on-time ticks in event-time order feed the window: an out-of-order tick (earlier
than the latest one seen) still makes bars but is skipped here.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from processors.core import Record

_NEVER = -(2**63)


def level_of(steps: int) -> str:
    if steps >= 4:
        return "CRITICAL"
    if steps >= 2:
        return "ERROR"
    return "WARNING"


class MoveAlerts:
    __slots__ = ("venue", "symbol", "alert_key", "threshold", "threshold_pct", "window_us", "window_s", "throttle_us",
                 "last_t", "lows", "highs", "last_alert_t", "last_alert_steps", "suppressed")

    def __init__(self, venue: str, symbol: str, threshold_pct: float, window_s: int, throttle_s: int):
        self.venue = venue
        self.symbol = symbol
        self.alert_key = f"move:{venue}:{symbol}"
        self.threshold_pct = threshold_pct
        self.threshold = threshold_pct / 100.0
        self.window_s = window_s
        self.window_us = window_s * 1_000_000
        self.throttle_us = throttle_s * 1_000_000
        self.last_t = _NEVER  # event time of the latest tick seen
        self.lows: deque[tuple[int, float]] = deque()  # increasing prices: the front is the window's low
        self.highs: deque[tuple[int, float]] = deque()  # decreasing prices: the front is the window's high
        self.last_alert_t: int | None = None
        self.last_alert_steps = 0
        self.suppressed = 0

    def observe(self, t: int, price: float, tick_id: str) -> Record | None:
        """One in-session on-time tick; the Alert it raises, if any."""
        if t < self.last_t:
            return None
        self.last_t = t
        entry = (t, price)
        lows = self.lows
        highs = self.highs
        if lows:
            # Both deques end with the previous tick (each observe appends it to both): it leaves the
            # lows when the price is at or below it, the highs when at or above it, and only then can
            # older entries go too. One comparison instead of a failing check on the other deque.
            previous = lows[-1][1]
            if price <= previous:
                lows.pop()
                while lows and lows[-1][1] >= price:
                    lows.pop()
            if price >= previous:
                highs.pop()
                while highs and highs[-1][1] <= price:
                    highs.pop()
        lows.append(entry)
        highs.append(entry)
        cutoff = t - self.window_us
        while lows[0][0] < cutoff:
            lows.popleft()
        while highs[0][0] < cutoff:
            highs.popleft()
        low = lows[0][1]
        high = highs[0][1]
        threshold = self.threshold
        if price - low <= threshold * low and high - price <= threshold * high:
            return None
        return self._triggered(t, price, tick_id, low, high)

    def _triggered(self, t: int, price: float, tick_id: str, low: float, high: float) -> Record | None:
        threshold = self.threshold
        up = low > 0 and price - low > threshold * low
        down = high > 0 and high - price > threshold * high
        if not (up or down):
            return None
        up_move = (price - low) / low if up else 0.0
        down_move = (high - price) / high if down else 0.0
        if up_move >= down_move:
            move, reference, reference_t, direction = up_move, low, self.lows[0][0], "up"
        else:
            move, reference, reference_t, direction = down_move, high, self.highs[0][0], "down"
        steps = max(1, int(move / threshold))
        return self._decide(t, price, tick_id, move, steps, reference, reference_t, direction)

    def _decide(self, t: int, price: float, tick_id: str, move: float, steps: int, reference: float,
                reference_t: int, direction: str) -> Record | None:
        last = self.last_alert_t
        if last is None or t - last >= self.throttle_us:
            reason = "first" if last is None else "throttle_expired"
        elif steps > self.last_alert_steps:
            reason = "escalation"
        else:
            self.suppressed += 1
            return None
        suppressed = self.suppressed
        self.last_alert_t = t
        self.last_alert_steps = steps
        self.suppressed = 0
        move_pct = move * 100.0
        signed_pct = move_pct if direction == "up" else -move_pct
        return {
            "event_id": f"alert:{self.alert_key}:{tick_id}",
            "event_time": t,
            "alert_key": self.alert_key,
            "source": "marketdata",
            "kind": "price_move",
            "level": level_of(steps),
            "message": (
                f"{self.symbol} on {self.venue} {direction} {move_pct:.2f}% within {self.window_s}s "
                f"({reference} -> {price})"
            ),
            "value": signed_pct,
            "threshold": self.threshold_pct,
            "suppressed_count": suppressed,
            "caused_by": tick_id,
            "details": {
                "venue": self.venue,
                "symbol": self.symbol,
                "direction": direction,
                "steps": str(steps),
                "price": repr(price),
                "reference_price": repr(reference),
                "reference_time_us": str(reference_t),
                "window_s": str(self.window_s),
                "reason": reason,
            },
        }

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        return {
            "last_t": None if self.last_t == _NEVER else self.last_t,
            # (time, price) tuples, serialized as JSON arrays: copying each entry into a list cost ~60 µs
            # per key and commit with a busy window (hundreds of entries), on every bar's path in the worker
            "lows": list(self.lows),
            "highs": list(self.highs),
            "last_alert_t": self.last_alert_t,
            "last_alert_steps": self.last_alert_steps,
            "suppressed": self.suppressed,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.last_t = _NEVER if state["last_t"] is None else state["last_t"]
        self.lows = deque((t, p) for t, p in state["lows"])
        self.highs = deque((t, p) for t, p in state["highs"])
        self.last_alert_t = state["last_alert_t"]
        self.last_alert_steps = state["last_alert_steps"]
        self.suppressed = state["suppressed"]
