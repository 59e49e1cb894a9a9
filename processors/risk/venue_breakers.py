"""Breakers of a whole venue: latency and error rate.

Latency observations: every successful health probe (``VenueHealth.ok``; a failed probe is an error,
not a latency sample) and every order acknowledgement with an ``ack_latency_ms``. A latency strictly
above the threshold violates; doubles are compared as doubles (no arithmetic, so exactly).

Error rate: each request outcome is a sample — a health probe (failed when not ok), an OrderAccepted
(success) or an OrderRejected by the VENUE (failure, unless its reason is configured as not an error).
The window is ``[t - window, t]`` (a sample exactly ``window`` old still counts). Every new sample is
an observation once the window holds at least ``min_samples`` samples; it violates when
``failed x 100 > threshold_pct x total`` (integers and the decimal threshold: exact). With fewer
samples there is no observation: the consecutive count neither grows nor resets.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from processors.risk.breaker import CircuitBreaker, Timing
from processors.risk.exact import HUNDRED, ratio


class LatencyBreaker(CircuitBreaker):
    __slots__ = ("venue", "scope", "name", "threshold", "threshold_ms")
    kind = "LATENCY"
    unit = "ms"

    def __init__(self, venue: str, threshold_ms: float, timing: Timing):
        super().__init__(timing)
        self.venue = venue
        self.scope = venue
        self.name = f"LATENCY:{venue}"
        self.threshold_ms = threshold_ms
        self.threshold = Decimal(repr(threshold_ms))

    def violates(self, latency_ms: float) -> bool:
        return latency_ms > self.threshold_ms

    @staticmethod
    def value(latency_ms: float) -> Decimal:
        return Decimal(repr(latency_ms))

    def snapshot(self) -> list[Any]:
        return self.machine_snapshot()

    def restore(self, state: list[Any]) -> None:
        self.machine_restore(state)


class ErrorRateBreaker(CircuitBreaker):
    __slots__ = ("venue", "scope", "name", "threshold", "window_us", "min_samples", "samples", "failed")
    kind = "ERROR_RATE"
    unit = "pct"

    def __init__(self, venue: str, threshold_pct: Decimal, window_us: int, min_samples: int, timing: Timing):
        super().__init__(timing)
        self.venue = venue
        self.scope = venue
        self.name = f"ERROR_RATE:{venue}"
        self.threshold = threshold_pct
        self.window_us = window_us
        self.min_samples = min_samples
        self.samples: deque[tuple[int, bool]] = deque()
        self.failed = 0

    def add(self, t: int, failed: bool) -> bool | None:
        """Adds a sample (``t`` never decreases); the observation it makes: violating or not, or None
        while the window holds fewer than ``min_samples`` samples."""
        samples = self.samples
        samples.append((t, failed))
        if failed:
            self.failed += 1
        cutoff = t - self.window_us
        while samples[0][0] < cutoff:
            _, was_failed = samples.popleft()
            if was_failed:
                self.failed -= 1
        total = len(samples)
        if total < self.min_samples:
            return None
        return self.failed * 100 > self.threshold * total

    def value(self) -> Decimal:
        return ratio(Decimal(self.failed), Decimal(len(self.samples)), HUNDRED)

    def snapshot(self) -> list[Any]:
        return [self.machine_snapshot(), [[t, f] for t, f in self.samples]]

    def restore(self, state: list[Any]) -> None:
        machine, samples = state
        self.machine_restore(machine)
        self.samples = deque((t, f) for t, f in samples)
        self.failed = sum(1 for _, f in self.samples if f)
