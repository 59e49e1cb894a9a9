"""The market-data pipeline: ``md.ticks.v1`` (PriceTick, Heartbeat, BackfillComplete) → six derived topics."""

from __future__ import annotations

from typing import Any, Self

from processors import topics
from processors.core import Emit, KeyedProcessor, PipelineSpec, Record
from processors.marketdata.calendars import CalendarBook
from processors.marketdata.config import MarketDataConfig
from processors.marketdata.processor import MarketDataProcessor
from processors.marketdata.records import OUTPUT_TOPICS


def marketdata_key(schema: str, record: Record) -> str:
    """``venue:symbol`` of ticks and backfill markers; a heartbeat's ``source`` (also venue:symbol)."""
    if schema == "PriceTick":  # the per-tick case first
        return f"{record['venue']}:{record['symbol']}"
    if schema == "Heartbeat" or schema.endswith(".Heartbeat"):
        return record["source"]
    return f"{record['venue']}:{record['symbol']}"


def is_symbol_key(key: str) -> bool:
    venue, sep, symbol = key.partition(":")
    return bool(venue and sep and symbol)


class IgnoredKey(KeyedProcessor):
    """A key that is not ``venue:symbol`` — a venue-wide heartbeat (``source`` = venue): it belongs to
    no symbol's clock, so its events are only counted; nothing is emitted."""

    def __init__(self, key: str, events: int = 0):
        super().__init__(key)
        self.events = events

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        self.events += 1
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"ignored_events": self.events}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        return cls(key, state["ignored_events"])


def marketdata_pipeline(config: MarketDataConfig | None = None) -> PipelineSpec:
    config = config or MarketDataConfig()
    calendars = CalendarBook(config)  # shared by every key of the pipeline: session caches built once

    def create(key: str) -> KeyedProcessor:
        if not is_symbol_key(key):
            return IgnoredKey(key)
        return MarketDataProcessor(key, config, calendars)

    def restore(key: str, state: dict[str, Any]) -> KeyedProcessor:
        if not is_symbol_key(key):
            return IgnoredKey.restore(key, state)
        return MarketDataProcessor.restore(key, state, config=config, calendars=calendars)

    return PipelineSpec(
        name="marketdata",
        inputs=(topics.TICKS,),
        outputs=OUTPUT_TOPICS,
        create=create,
        restore=restore,
        key_of=marketdata_key,
    )
