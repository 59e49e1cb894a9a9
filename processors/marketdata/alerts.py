"""Price-move alerts on event time, throttled per symbol.

The move of a tick is measured against the lowest and highest price of the trailing window
[t - window, t] (the tick included), kept in two monotonic deques (O(1) amortized per tick):
up = (price - low) / low, down = (high - price) / high; the larger one is the move. A move
*more than* the threshold (price - low > threshold × low, or the same downwards) triggers.

``steps`` = floor(move / threshold) (0.6 % → 1, 1.0 % → 2 with a 0.5 % threshold); the level is
WARNING for 1 step, ERROR for 2–3, CRITICAL for 4 or more.

Throttling, per symbol, by the shared :class:`processors.alerts.AlertThrottle` with escalation: after an
alert, further triggers within ``alert_throttle_s`` are suppressed (counted) unless the move reaches at
least one more step than the last alert's (an escalation); the next alert carries the number of
suppressed triggers (each tick that triggered while throttled).

Only in-session, on-time ticks in event-time order feed the window: an out-of-order tick (earlier
than the latest one seen) still makes bars but is skipped here.
"""

from __future__ import annotations

import base64
from collections import deque
from typing import Any

import numpy as np

from processors.alerts.throttle import AlertThrottle
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
                 "last_t", "lows", "highs", "throttle")

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
        # one key; never pruned: a pruned key's next alert would say "first" instead of "throttle_expired"
        self.throttle = AlertThrottle(self.throttle_us, prune_every=None)

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
        last = self.throttle.last.get(self.alert_key)
        suppressed = self.throttle.admit(self.alert_key, t, steps)
        if suppressed is None:
            return None
        if last is None:
            reason = "first"
        elif t - last >= self.throttle_us:
            reason = "throttle_expired"
        else:
            reason = "escalation"
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
            "lows": _pack_window(self.lows, self.last_t),
            "highs": _pack_window(self.highs, self.last_t),
            # the throttle's state of the one key, in this snapshot's own fields (as before the shared throttle)
            "last_alert_t": self.throttle.last.get(self.alert_key),
            "last_alert_steps": self.throttle.steps.get(self.alert_key, 0),
            "suppressed": self.throttle.suppressed.get(self.alert_key, 0),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.last_t = _NEVER if state["last_t"] is None else state["last_t"]
        self.lows = _unpack_window(state["lows"], self.last_t)
        self.highs = _unpack_window(state["highs"], self.last_t)
        key, throttle = self.alert_key, AlertThrottle(self.throttle_us, prune_every=None)
        if state["last_alert_t"] is not None:
            throttle.last[key] = state["last_alert_t"]
        if state["last_alert_steps"]:
            throttle.steps[key] = state["last_alert_steps"]
        if state["suppressed"]:
            throttle.suppressed[key] = state["suppressed"]
        self.throttle = throttle


# The window's deques are the bulk of a busy key's state: a monotonic deque over 5 minutes of a feed
# of hundreds of ticks a second holds hundreds of entries, and the live worker writes every busy key's
# state at every commit (10 a second). As JSON arrays an entry took ~37 bytes ("[1763900000001200,
# 100.01234567891234]"); packed it takes 12 (a uint32 age from the latest tick when the window allows,
# and the price's IEEE double, both little-endian, base64), and the state of such a key shrank ~2.4x.
# Exact both ways: ages are integers and the doubles are their own bytes.
_AGE_32 = np.dtype("<u4")
_AGE_64 = np.dtype("<u8")
_AGE_TYPES = {"u4": _AGE_32, "u8": _AGE_64}
_PRICE = np.dtype("<f8")


def _pack_window(entries: deque[tuple[int, float]], last_t: int) -> dict[str, Any]:
    if not entries:
        return {"age": "u4", "ages": "", "prices": ""}
    times, prices = zip(*entries, strict=True)
    ages = last_t - np.array(times, dtype=np.int64)  # 0 <= age <= window: every entry is in the window
    wide = int(ages[0]) > 0xFFFF_FFFF  # the oldest entry has the largest age
    return {
        "age": "u8" if wide else "u4",
        "ages": base64.b64encode(ages.astype(_AGE_64 if wide else _AGE_32).tobytes()).decode("ascii"),
        "prices": base64.b64encode(np.array(prices, dtype=_PRICE).tobytes()).decode("ascii"),
    }


def _unpack_window(packed: Any, last_t: int) -> deque[tuple[int, float]]:
    if isinstance(packed, list):  # the [[time, price], ...] arrays of earlier snapshots
        return deque((t, p) for t, p in packed)
    age_type = _AGE_TYPES.get(packed["age"])
    if age_type is None:
        raise ValueError(f"alert window snapshot: unknown age type {packed['age']!r} (u4 or u8)")
    ages_raw = base64.b64decode(packed["ages"], validate=True)
    prices_raw = base64.b64decode(packed["prices"], validate=True)
    if len(ages_raw) % age_type.itemsize or len(prices_raw) % _PRICE.itemsize \
            or len(ages_raw) // age_type.itemsize != len(prices_raw) // _PRICE.itemsize:
        raise ValueError(f"alert window snapshot: {len(ages_raw)} bytes of {packed['age']} ages but "
                         f"{len(prices_raw)} bytes of prices")
    ages = np.frombuffer(ages_raw, dtype=age_type)
    prices = np.frombuffer(prices_raw, dtype=_PRICE)
    times = (last_t - ages.astype(np.int64)).tolist()
    return deque(zip(times, prices.tolist(), strict=True))
