"""The processor contract shared by every pipeline (see docs/architecture.md, "The processor contract").

A :class:`KeyedProcessor` holds the state of ONE key (e.g. ``binance:BTC/USDT``) and is pure and
deterministic: no Kafka, no database, no wall clock, no randomness, no I/O. The same input sequence
gives the same output sequence, byte for byte, which is what lets the live worker and the replay
driver share one implementation (both drive processors through :class:`processors.runtime.PartitionRuntime`).

Records are dicts in the contracts' wire form: ``timestamp-micros`` fields are integer microseconds,
decimals are ``decimal.Decimal``.

Time: a processor's own clock is the event time of the events of its key (ticks and heartbeats of
that key, in log order). For time that must pass without events of the key (re-validation timers,
cooldowns), a processor asks for a timer with :meth:`next_timer`; the runtime calls :meth:`on_timer`
once the *partition's* event-time clock (the highest event time seen in that input partition)
reaches it. Never the wall clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Self

if TYPE_CHECKING:
    from processors.admission import AdmissionConfig

Record = dict[str, Any]

# An Emit whose schema is TOMBSTONE is written as a message without a value (its record carries only
# ``event_time``, the message's timestamp): on a compacted topic it deletes its key.
TOMBSTONE = "tombstone"


class Emit(NamedTuple):
    """One output event: which derived topic, its key, its record type and the record.

    A NamedTuple rather than a frozen dataclass: just as immutable, and built ~5x faster (a frozen
    dataclass's ``__init__`` goes through ``object.__setattr__`` per field), which counts on hot paths.
    """

    topic: str
    key: str
    schema: str
    record: Record


class KeyedProcessor(ABC):
    """State and logic for one key."""

    def __init__(self, key: str):
        self.key = key

    @abstractmethod
    def on_event(self, schema: str, record: Record) -> list[Emit]:
        """Handle one input event of this key (in log order)."""

    def next_timer(self) -> int | None:
        """The earliest event time (µs) at which :meth:`on_timer` must run; ``None`` for no timer."""
        return None

    def on_timer(self, now_us: int) -> list[Emit]:
        """Called when the partition's event-time clock reached :meth:`next_timer`."""
        return []

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-able data (restored by :meth:`restore`)."""

    @classmethod
    @abstractmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        """A processor whose state is ``state`` (from :meth:`snapshot`)."""


@dataclass(frozen=True)
class PipelineSpec:
    """A pipeline: which input topics feed which keyed processor, and how to build one."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    create: Callable[[str], KeyedProcessor]
    restore: Callable[[str, dict[str, Any]], KeyedProcessor]
    key_of: Callable[[str, Record], str]  # (schema, record) -> processor key
    # Event-time bounds the runtime enforces before a processor sees an event (None: none, e.g. a
    # stage that reads what an earlier stage of its pipeline wrote, which admitted it already)
    admission: AdmissionConfig | None = None
    # Output schemas whose records the live engines stamp with the wall time their input took to process
    # (header ``mercado-processing-us``, streams/kafka/headers.py): a processor has no clock, and a
    # payload with a wall-clock figure would differ from the replay's
    timed_outputs: tuple[str, ...] = ()
