"""Alert throttling per alert key, on event time (for any pipeline's ``Alert`` records).

At most one alert per key per window: an alert passes when its key never alerted or its previous
alert is at least ``window`` old (``t - last >= window``: exactly one window later passes); otherwise it
is suppressed and counted. The next alert of the key that passes carries that count in
``suppressed_count`` (and resets it). An alert older than the key's last one (out of order) is
suppressed. A window of 0 lets everything through.

Keys whose last alert is a whole window old and have nothing suppressed behave exactly as unknown
keys, so they are dropped (:meth:`AlertThrottle.prune`, run every ``prune_every`` admissions) to keep
the state small when keys are many.
"""

from __future__ import annotations

from typing import Any

from processors.core import Record


class AlertThrottle:
    __slots__ = ("window_us", "prune_every", "last", "suppressed", "_since_prune")

    def __init__(self, window_us: int, prune_every: int = 4096):
        self.window_us = window_us
        self.prune_every = prune_every
        self.last: dict[str, int] = {}  # alert key -> event time of its last alert that passed
        self.suppressed: dict[str, int] = {}  # alert key -> alerts suppressed since then
        self._since_prune = 0

    def admit(self, key: str, t: int) -> int | None:
        """None when the alert is suppressed; else the suppressed count it must carry."""
        last = self.last.get(key)
        if last is not None and t - last < self.window_us:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return None
        self.last[key] = t
        self._since_prune += 1
        if self._since_prune >= self.prune_every:
            self.prune(t)
        return self.suppressed.pop(key, 0)

    def offer(self, alert: Record) -> Record | None:
        """The alert with its ``suppressed_count`` set, or None when throttled."""
        count = self.admit(alert["alert_key"], alert["event_time"])
        if count is None:
            return None
        alert["suppressed_count"] = count
        return alert

    def prune(self, now: int) -> None:
        self._since_prune = 0
        idle = [k for k, t in self.last.items() if now - t >= self.window_us and k not in self.suppressed]
        for k in idle:
            del self.last[k]

    def snapshot(self) -> dict[str, Any]:
        return {
            "last": dict(sorted(self.last.items())),
            "suppressed": dict(sorted(self.suppressed.items())),
            "since_prune": self._since_prune,
        }

    @classmethod
    def restore(cls, state: dict[str, Any], window_us: int, prune_every: int = 4096) -> AlertThrottle:
        throttle = cls(window_us, prune_every)
        throttle.last = dict(state["last"])
        throttle.suppressed = dict(state["suppressed"])
        throttle._since_prune = state["since_prune"]
        return throttle
