"""The rekey stage: the risk stage's inputs, from three topics, into one topic keyed by venue.

The risk state (breakers, trading states, the order gate, positions) is per venue, but its inputs
are keyed ``venue:symbol`` (orders, ticks) or ``venue`` (health probes) on three topics: neither
co-partitioned by venue nor in one order (a live consumer interleaves topics as they arrive). This
stateless stage reads the three topics and writes every relevant event — the same record, the same
schema — to ``risk.inputs.v1`` keyed by venue. The risk stage reads only that topic, so the log
order of each of its partitions is the one canonical order that the live worker and a replay of the
repartition topic both follow.

Forwarded: the five order events, VenueHealth and the operators' Commands (``risk.commands.v1``, keyed
by venue) of every venue; PriceTicks of the configured markets
(``RiskConfig.markets``; empty: all). Not forwarded: backfill replacement ticks (``backfill_id`` set:
history re-sent late, not the market now), BackfillComplete markers, and Heartbeats — a quiet feed's
heartbeat only says time passes, and the venue's health probes (every few seconds) and the partition's
other events already move the risk stage's clock (``RiskConfig.forward_heartbeats`` turns them on).
"""

from __future__ import annotations

from typing import Any, Self

from processors import topics
from processors.core import Emit, KeyedProcessor, Record
from processors.risk.config import RiskConfig
from processors.risk.records import ORDER_EVENTS

_ORDER_EVENTS = frozenset(ORDER_EVENTS)
_NOTHING: frozenset[str] = frozenset()


def input_key(schema: str, record: Record) -> str:
    """The key an input event has on its own topic (the rekey stage's processor key)."""
    if schema == "VenueHealth":
        return record["venue"]
    if schema == "Heartbeat":
        return record["source"]
    if schema == "Command":
        return record["target"]
    if schema == "BackfillComplete":
        return f"{record.get('venue')}:{record.get('symbol')}"
    return f"{record['venue']}:{record['symbol']}"


def venue_key(schema: str, record: Record) -> str:
    """The key of the repartition topic and of the risk stage: the venue."""
    if schema == "Heartbeat":
        return record["source"].partition(":")[0]
    if schema == "Command":
        return record["target"]
    return record["venue"]


class InputRouter:
    """Decides what the rekey stage forwards (pure; shared by its processors and in-process runs)."""

    def __init__(self, config: RiskConfig | None = None):
        self.config = config or RiskConfig()
        markets = self.config.markets
        self._all = not markets
        self._heartbeats = self.config.forward_heartbeats
        # venue -> its traded symbols, or None for all of them ('*')
        self._symbols: dict[str, frozenset[str] | None] = {
            venue: None if "*" in symbols else frozenset(symbols) for venue, symbols in markets.items()
        }

    def destination(self, schema: str, record: Record) -> str | None:
        """The venue key an event is forwarded with, or None when it is not forwarded."""
        if schema == "PriceTick":
            if record["backfill_id"] is not None:
                return None
            venue = record["venue"]
            if self._all:
                return venue
            symbols = self._symbols.get(venue, _NOTHING)
            return venue if symbols is None or record["symbol"] in symbols else None
        if schema in _ORDER_EVENTS or schema == "VenueHealth":
            return record["venue"]
        if schema == "Command":  # an operator's command to the venue's risk state (mercado api)
            return record["target"]
        if schema == "Heartbeat" and self._heartbeats:
            venue, _, symbol = record["source"].partition(":")
            if self._all or (self._forwards(venue, symbol) if symbol else venue in self._symbols):
                return venue
        return None

    def _forwards(self, venue: str, symbol: str) -> bool:
        if venue not in self._symbols:
            return False
        symbols = self._symbols[venue]
        return symbols is None or symbol in symbols


class RiskRekeyProcessor(KeyedProcessor):
    """Stateless: forwards each event of its key to the repartition topic, keyed by venue."""

    def __init__(self, key: str, router: InputRouter):
        super().__init__(key)
        self.router = router

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        venue = self.router.destination(schema, record)
        return [] if venue is None else [Emit(topics.RISK_INPUTS, venue, schema, record)]

    def snapshot(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        return cls(key, config.get("router") or InputRouter(config.get("config")))
