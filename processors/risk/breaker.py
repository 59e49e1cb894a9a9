"""The circuit-breaker state machine shared by the five breakers (on event time).

::

    CLOSED --N consecutive violating observations--> OPEN (cooldown c, starting at the base cooldown)
    OPEN   --event time reaches opened_at + c-------> HALF_OPEN   (observations while OPEN are ignored)
    HALF_OPEN --next observation within limits------> CLOSED      (c back to the base cooldown)
    HALF_OPEN --next observation violating----------> OPEN        (c doubled, capped at the maximum)

An observation within limits while CLOSED resets the count of consecutive violations. A breaker that
is not CLOSED "trips" its venue (or its account, for drawdown): HALF_OPEN is a probation, the next
observation decides, and until then trading stays restricted. The cooldown ends at exactly
``opened_at + c``: an observation at that instant is already judged in HALF_OPEN.
"""

from __future__ import annotations

from typing import Any, NamedTuple

CLOSED = "CLOSED"
OPEN = "OPEN"
HALF_OPEN = "HALF_OPEN"
_STATES = {CLOSED: CLOSED, OPEN: OPEN, HALF_OPEN: HALF_OPEN}


class Timing(NamedTuple):
    """How a breaker opens and how long it stays open (µs)."""

    consecutive: int
    cooldown_us: int
    max_cooldown_us: int


class Change(NamedTuple):
    from_state: str
    to_state: str
    consecutive_violations: int


class CircuitBreaker:
    """One breaker's state. Subclasses measure; this class only counts and keeps time."""

    __slots__ = ("timing", "state", "violations", "cooldown_us", "open_until")

    kind = ""
    unit = ""

    def __init__(self, timing: Timing):
        self.timing = timing
        self.state = CLOSED
        self.violations = 0
        self.cooldown_us = timing.cooldown_us
        self.open_until: int | None = None

    @property
    def tripped(self) -> bool:
        return self.state != CLOSED

    def judge(self, t: int, violated: bool) -> Change | None:
        """One observation at event time ``t`` (a due cooldown must have been ended with :meth:`expire`)."""
        state = self.state
        if state == CLOSED:
            if not violated:
                self.violations = 0
                return None
            self.violations += 1
            if self.violations < self.timing.consecutive:
                return None
            count = self.violations
            self._open(t, self.timing.cooldown_us)
            return Change(CLOSED, OPEN, count)
        if state == HALF_OPEN:
            if violated:
                self._open(t, min(self.cooldown_us * 2, self.timing.max_cooldown_us))
                return Change(HALF_OPEN, OPEN, 1)
            self.state = CLOSED
            self.violations = 0
            self.cooldown_us = self.timing.cooldown_us
            self.open_until = None
            return Change(HALF_OPEN, CLOSED, 0)
        return None  # OPEN: the cooldown runs on event time

    def expire(self) -> Change:
        """The cooldown ended (at :attr:`open_until`): OPEN -> HALF_OPEN."""
        assert self.state == OPEN
        self.state = HALF_OPEN
        return Change(OPEN, HALF_OPEN, 0)

    def reset(self) -> Change:
        """An operator's manual reset (a command): back to CLOSED at once, the cooldown at its base."""
        assert self.state != CLOSED
        from_state = self.state
        self.state = CLOSED
        self.violations = 0
        self.cooldown_us = self.timing.cooldown_us
        self.open_until = None
        return Change(from_state, CLOSED, 0)

    def _open(self, t: int, cooldown_us: int) -> None:
        self.state = OPEN
        self.violations = 0
        self.cooldown_us = cooldown_us
        self.open_until = t + cooldown_us

    # ------------------------------------------------------------------ state
    def machine_snapshot(self) -> list[Any]:
        return [self.state, self.violations, self.cooldown_us, self.open_until]

    def machine_restore(self, state: list[Any]) -> None:
        name, self.violations, self.cooldown_us, self.open_until = state
        self.state = _STATES[name]  # the module's constants: the hot paths compare states by identity
