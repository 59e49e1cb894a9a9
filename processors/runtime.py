"""Drives the keyed processors of one input partition, deterministically.

Both the live worker and the replay driver feed each input partition's events, in log order, to one
:class:`PartitionRuntime`; that is why a backtest gives the same outputs as production. Timers fire
in (due time, key) order once the partition clock reaches them, after the event that moved the clock.

Before a processor sees an event, :meth:`PartitionRuntime.admit` applies the pipeline's event-time
bounds (:mod:`processors.admission`): an event before the floor, ahead of the time it was produced, or
(unstamped) implausibly far ahead of the partition clock is refused — the caller dead-letters it — and
moves no clock. How many outputs one admitted event may cause is each processor's contract (a timer
that is due again at once fires again: a processor bounds its own catch-up, see the pipelines' docs).
"""

from __future__ import annotations

import heapq
from typing import Any

from processors.admission import Refused, bounds_us, jump_violation, time_violation
from processors.core import Emit, KeyedProcessor, PipelineSpec, Record

_TIMERLESS: dict[type, bool] = {}


def _uses_timers(proc: KeyedProcessor) -> bool:
    """Whether the processor's class overrides ``next_timer`` (cached per class)."""
    cls = type(proc)
    uses = _TIMERLESS.get(cls)
    if uses is None:
        uses = _TIMERLESS[cls] = cls.next_timer is not KeyedProcessor.next_timer
    return uses


class PartitionRuntime:
    def __init__(self, spec: PipelineSpec):
        self.spec = spec
        # the admission bounds as (floor, max ahead, max jump) µs, or None: admit's fast path (per event)
        self.bounds = None if spec.admission is None else bounds_us(spec.admission)
        self.processors: dict[str, KeyedProcessor] = {}
        self.clock: int | None = None  # highest event time seen in this partition (µs)
        self._timers: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}  # the live timer of each key (heap entries may be stale)
        self._timed: set[str] = set()  # keys whose processor class uses timers
        # Keys whose state changed (an event or a timer), when the caller persists state per key
        # (the live worker saves them after each batch); None: not tracked (replay).
        self.changed: set[str] | None = None

    def processor(self, key: str) -> KeyedProcessor:
        proc = self.processors.get(key)
        if proc is None:
            proc = self.processors[key] = self.spec.create(key)
            if _uses_timers(proc):
                self._timed.add(key)
        return proc

    def admit(self, record: Record) -> Refused | None:
        """Whether an input event passes the pipeline's event-time bounds (None: admitted).

        A stamped event (``record["_produced_us"]``, from the producer's header) is judged against its
        stamp, an unstamped one against this partition's clock. Deterministic: the stamp is in the log."""
        bounds = self.bounds
        if bounds is None:
            return None
        t = record["event_time"]
        produced = record.get("_produced_us")
        floor, ahead, jump = bounds
        if t >= floor:  # the common case, in three comparisons
            if produced is not None:
                if t <= produced + ahead:
                    return None
            elif self.clock is None or t <= self.clock + jump:
                return None
        config = self.spec.admission
        bad = time_violation(t, produced, config)
        if bad is not None:
            reason = "event-time-floor" if t < config.floor_us else "event-time-ahead"
            return Refused(reason, f"{bad.field} {bad.message}")
        if produced is None:
            bad = jump_violation(t, self.clock, config)
            if bad is not None:
                return Refused("event-time-jump", f"{bad.field} {bad.message}")
        return None

    def process(self, schema: str, record: Record, key: str | None = None) -> list[Emit]:
        """One input event: the processor of its key handles it, then due timers fire."""
        if key is None:
            key = self.spec.key_of(schema, record)
        proc = self.processors.get(key)
        if proc is None:
            proc = self.processor(key)
        out = proc.on_event(schema, record)
        changed = self.changed
        if changed is not None:
            changed.add(key)
        # (_schedule inlined for the common case of an unchanged due time: this runs per event)
        if key in self._timed and proc.next_timer() != self._due.get(key):
            self._schedule(key, proc)
        t = record["event_time"]
        clock = self.clock
        if clock is None or t > clock:
            self.clock = t
            timers = self._timers
            if timers and timers[0][0] <= t:
                out.extend(self._fire(t))
        return out

    def advance(self, now_us: int) -> list[Emit]:
        """Moves the partition clock without an event (e.g. end of a replay range)."""
        if self.clock is not None and now_us <= self.clock:
            return []
        self.clock = now_us
        return self._fire(now_us)

    def _schedule(self, key: str, proc: KeyedProcessor) -> None:
        due = proc.next_timer()
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) != due:
            self._due[key] = due
            heapq.heappush(self._timers, (due, key))

    def _fire(self, now: int) -> list[Emit]:
        out: list[Emit] = []
        timers, live, processors, changed = self._timers, self._due, self.processors, self.changed
        pop, push = heapq.heappop, heapq.heappush
        while timers and timers[0][0] <= now:
            due, key = pop(timers)
            if live.get(key) != due:
                continue  # superseded
            del live[key]
            proc = processors[key]
            out.extend(proc.on_timer(now))
            if changed is not None:
                changed.add(key)
            nxt = proc.next_timer()  # (_schedule inlined: the key has no live timer here)
            if nxt is not None:
                live[key] = nxt
                push(timers, (nxt, key))
        return out

    # ------------------------------------------------------------------ state
    def snapshot_key(self, key: str) -> dict[str, Any]:
        return self.processors[key].snapshot()

    def restore_key(self, key: str, state: dict[str, Any]) -> None:
        proc = self.spec.restore(key, state)
        self.processors[key] = proc
        if _uses_timers(proc):
            self._timed.add(key)
            self._schedule(key, proc)

    def snapshot(self) -> dict[str, Any]:
        return {"clock": self.clock, "keys": {k: p.snapshot() for k, p in sorted(self.processors.items())}}

    def restore(self, state: dict[str, Any]) -> None:
        self.clock = state["clock"]
        for key, snap in state["keys"].items():
            self.restore_key(key, snap)
