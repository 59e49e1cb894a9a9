"""The topic catalog: the one place that names every topic, its key, schemas, partitions and retention.

Names follow ``<domain>.<entity>.v<N>``. A topic may carry several record types when their order
matters per key (the order lifecycle); the single-object header tells them apart. The key is built
from record fields and is the key the stateful processor needs, so state is co-partitioned with its
input: every Mercado producer uses the Java-compatible murmur2 partitioner (as aiokafka and faust do),
so equal keys land on equal partition numbers in every topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    schemas: tuple[str, ...]
    key_fields: tuple[str, ...]
    description: str
    partitions: int = 3
    cleanup_policy: str = "delete"
    retention_ms: int = 30 * DAY_MS
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def multi_schema(self) -> bool:
        return len(self.schemas) > 1

    def key_function(self) -> Callable[[dict[str, Any]], str]:
        """``record -> key``: the key fields' values joined with ``:``."""
        fields = self.key_fields
        if len(fields) == 1:
            (a,) = fields
            return lambda r: str(r[a])
        if len(fields) == 2:
            a, b = fields
            return lambda r: f"{r[a]}:{r[b]}"
        return lambda r: ":".join(str(r[f]) for f in fields)

    def config(self) -> dict[str, str]:
        cfg = {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms)}
        cfg.update(self.extra_config)
        return cfg


ORDER_EVENTS = ("OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled")

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("md.ticks.v1", ("PriceTick",), ("venue", "symbol"), "Price ticks (quotes/trades) per venue:symbol."),
    TopicSpec(
        "md.heartbeats.v1",
        ("Heartbeat",),
        ("source",),
        "Heartbeats of quiet feeds; source is venue:symbol, co-partitioned with md.ticks.v1.",
        retention_ms=7 * DAY_MS,
    ),
    TopicSpec("retail.listings.v1", ("RetailListing",), ("retailer", "sku"), "Observed retail listings (CLP)."),
    TopicSpec("scanner.snapshots.v1", ("ScanSnapshot",), ("scanner",), "Stock scanner snapshots per session."),
    TopicSpec(
        "trading.orders.v1",
        ORDER_EVENTS,
        ("venue", "symbol"),
        "Order lifecycle events (submitted, accepted, rejected, filled, canceled) per venue:symbol.",
    ),
    TopicSpec("trading.venue-health.v1", ("VenueHealth",), ("venue",), "Venue API health probes per venue."),
    TopicSpec(
        "mercado.deadletter.v1",
        (),
        (),
        "Undecodable or rejected messages: original bytes, reason and origin in headers.",
        retention_ms=90 * DAY_MS,
    ),
)

_BY_NAME = {t.name: t for t in TOPICS}
DEAD_LETTER_TOPIC = "mercado.deadletter.v1"


class UnknownTopic(KeyError):
    def __str__(self) -> str:
        return f"unknown topic {self.args[0]!r}; known topics: {', '.join(sorted(_BY_NAME))}"


def topic(name: str) -> TopicSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownTopic(name) from None


def all_topics() -> tuple[TopicSpec, ...]:
    return TOPICS
