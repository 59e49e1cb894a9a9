"""Alert throttling per alert key, on event time (for any pipeline's ``Alert`` records).

At most one alert per key per window: an alert passes when its key never alerted or its previous
alert is at least ``window`` old (``t - last >= window``: exactly one window later passes); otherwise it
is suppressed and counted. The next alert of the key that passes carries that count in
``suppressed_count`` (and resets it). An alert older than the key's last one (out of order) is
suppressed. A window of 0 lets everything through.

Escalation (optional): an alert offered with ``steps`` (a severity, e.g. how many thresholds a price
move crossed) also passes within the window when its steps exceed those of the key's last alert that
passed. Alerts without steps (0) never escalate. Market data's move alerts use it
(:mod:`processors.marketdata.alerts`); risk's alerts do not.

Keys whose last alert is a whole window old and have nothing suppressed behave exactly as unknown
keys, so they are dropped (:meth:`AlertThrottle.prune`, run every ``prune_every`` admissions; never when
``prune_every`` is None) to keep the state small when keys are many.
"""

from __future__ import annotations

from typing import Any

from processors.core import Record


class AlertThrottle:
    __slots__ = ("window_us", "prune_every", "last", "steps", "suppressed", "_since_prune")

    def __init__(self, window_us: int, prune_every: int | None = 4096):
        self.window_us = window_us
        self.prune_every = prune_every
        self.last: dict[str, int] = {}  # alert key -> event time of its last alert that passed
        self.steps: dict[str, int] = {}  # alert key -> steps of that alert, when not 0
        self.suppressed: dict[str, int] = {}  # alert key -> alerts suppressed since then
        self._since_prune = 0

    def admit(self, key: str, t: int, steps: int = 0) -> int | None:
        """None when the alert is suppressed; else the suppressed count it must carry."""
        last = self.last.get(key)
        if last is not None and t - last < self.window_us and steps <= self.steps.get(key, 0):
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return None
        self.last[key] = t
        if steps:
            self.steps[key] = steps
        elif self.steps:
            self.steps.pop(key, None)
        self._since_prune += 1
        if self.prune_every is not None and self._since_prune >= self.prune_every:
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
            self.steps.pop(k, None)

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "last": dict(sorted(self.last.items())),
            "suppressed": dict(sorted(self.suppressed.items())),
            "since_prune": self._since_prune,
        }
        if self.steps:  # only throttles that escalate have steps: the others' snapshots stay as they were
            state["steps"] = dict(sorted(self.steps.items()))
        return state

    @classmethod
    def restore(cls, state: dict[str, Any], window_us: int, prune_every: int | None = 4096) -> AlertThrottle:
        throttle = cls(window_us, prune_every)
        throttle.last = dict(state["last"])
        throttle.steps = dict(state.get("steps", {}))
        throttle.suppressed = dict(state["suppressed"])
        throttle._since_prune = state["since_prune"]
        return throttle
