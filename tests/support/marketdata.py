"""Helpers shared by the market-data tests (no tests here): record builders, local-time instants and a
harness that feeds one processor and checks every emitted record against its Avro schema."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from processors.core import Emit
from processors.marketdata import MarketDataConfig, MarketDataProcessor
from processors.marketdata.calendars import utc_micros
from streams.codec.serde import AvroSerde

SERDE = AvroSerde()
BOGOTA = ZoneInfo("America/Bogota")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def at(text: str, zone: ZoneInfo = UTC_ZONE) -> int:
    """``"2026-03-02 08:00:00"`` in ``zone`` as UTC microseconds."""
    return utc_micros(datetime.fromisoformat(text).replace(tzinfo=zone))


def bogota(text: str) -> int:
    return at(text, BOGOTA)


def new_york(text: str) -> int:
    return at(text, NEW_YORK)


def tick(
    t: int,
    price: float | None,
    seq: int,
    *,
    venue: str = "setfx",
    symbol: str = "USD/COP",
    volume: float = 0.0,
    bid: float | None = None,
    ask: float | None = None,
    backfill_id: str | None = None,
    produced_us: int | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": f"{venue}:{symbol}:{seq}" if backfill_id is None else f"bf:{backfill_id}:{seq}",
        "event_time": t,
        "venue": venue,
        "symbol": symbol,
        "bid": bid,
        "ask": ask,
        "last": price,
        "volume": volume,
        "sequence": seq,
        "backfill_id": backfill_id,
    }
    if produced_us is not None:
        record["_produced_us"] = produced_us
    return record


def heartbeat(t: int, source: str = "setfx:USD/COP") -> dict[str, Any]:
    return {"event_id": f"hb:{source}:{t}", "event_time": t, "source": source}


def backfill_complete(backfill_id: str, start: int, end: int, tick_count: int, *, venue: str = "setfx",
                      symbol: str = "USD/COP") -> dict[str, Any]:
    return {
        "event_id": f"bfc:{backfill_id}:{venue}:{symbol}",
        "event_time": start,
        "venue": venue,
        "symbol": symbol,
        "backfill_id": backfill_id,
        "start": start,
        "end": end,
        "tick_count": tick_count,
    }


def check_encodes(emits: Iterable[Emit]) -> None:
    """Every record fits its Avro schema (raises EncodeError naming the field otherwise)."""
    for emit in emits:
        SERDE.encode(emit.schema, emit.record, emit.topic)


class Harness:
    """One processor, fed event by event; collects (and schema-checks) what it emits."""

    def __init__(self, key: str = "setfx:USD/COP", config: MarketDataConfig | None = None):
        self.key = key
        self.venue, self.symbol = key.split(":", 1)
        self.processor = MarketDataProcessor(key, config or MarketDataConfig())
        self.emits: list[Emit] = []
        self.seq = 0

    def feed(self, schema: str, record: dict[str, Any]) -> list[Emit]:
        out = self.processor.on_event(schema, record)
        check_encodes(out)
        self.emits.extend(out)
        return out

    def tick(self, t: int, price: float | None, **fields: Any) -> list[Emit]:
        if "seq" not in fields:
            self.seq += 1
            fields["seq"] = self.seq
        seq = fields.pop("seq")
        return self.feed("PriceTick", tick(t, price, seq, venue=self.venue, symbol=self.symbol, **fields))

    def heartbeat(self, t: int) -> list[Emit]:
        return self.feed("Heartbeat", heartbeat(t, self.key))

    def records(self, schema: str, interval_s: int | None = None) -> list[dict[str, Any]]:
        return [
            e.record for e in self.emits
            if e.schema == schema and (interval_s is None or e.record.get("interval_s") == interval_s)
        ]

    def bars(self, interval_s: int = 60) -> list[dict[str, Any]]:
        return self.records("Bar", interval_s)

    def gaps(self, interval_s: int = 60) -> list[dict[str, Any]]:
        return self.records("Gap", interval_s)


def ohlc(bar: dict[str, Any]) -> tuple[float, float, float, float]:
    return bar["open"], bar["high"], bar["low"], bar["close"]


def span_of(record: dict[str, Any]) -> tuple[int, int]:
    return record["start"], record["end"]
