"""The topic catalog: the one place that names every topic, its key, schemas, partitions and retention.

Names follow ``<domain>.<entity>.v<N>``. A topic may carry several record types when their order
matters per key (the order lifecycle); the single-object header tells them apart. The key is built
from record fields and is the key the stateful processor needs, so state is co-partitioned with its
from processors import topics
input: every Mercado producer uses the Java-compatible murmur2 partitioner (as aiokafka and faust do),
so equal keys land on equal partition numbers in every topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from processors import topics

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
    key_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per record type

    @property
    def multi_schema(self) -> bool:
        return len(self.schemas) > 1

    def key_function(self, schema: str | None = None) -> Callable[[dict[str, Any]], str]:
        """``record -> key``: the key fields' values joined with ``:`` (per record type if overridden)."""
        fields = self.key_overrides.get(schema, self.key_fields) if schema else self.key_fields
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
    TopicSpec(
        topics.TICKS,
        ("PriceTick", "Heartbeat", "BackfillComplete"),
        ("venue", "symbol"),
        "Price ticks per venue:symbol, and Heartbeats (source = venue:symbol) of quiet feeds in the same "
        "partition, so a bar closes at the same point of the log live and in replay; BackfillComplete "
        "markers end a backfill.",
        key_overrides={"Heartbeat": ("source",)},
    ),
    TopicSpec(topics.BARS, ("Bar",), ("venue", "symbol"), "OHLCV bars (revisions share the bar key)."),
    TopicSpec(topics.GAPS, ("Gap",), ("venue", "symbol"), "Bar intervals inside a session with no ticks."),
    TopicSpec(topics.INDICATORS, ("IndicatorSet",), ("venue", "symbol"), "Streaming indicators per closed bar."),
    TopicSpec(topics.QUALITY, ("DataQuality",), ("venue", "symbol"), "Data-quality figures per symbol and hour."),
    TopicSpec(topics.LATE_TICKS, ("LateTick",), ("venue", "symbol"), "Ticks later than the grace period."),
    TopicSpec(
        topics.MD_ALERTS,
        ("Alert",),
        ("alert_key",),
        "Price-move alerts, throttled per symbol; the processor keys them venue:symbol like their input.",
    ),
    TopicSpec(topics.LISTINGS, ("RetailListing",), ("retailer", "sku"), "Observed retail listings (CLP)."),
    TopicSpec(topics.SCAN_SNAPSHOTS, ("ScanSnapshot", "Command"), ("scanner",),
              "Stock scanner snapshots per session, and the operators' commands to the scanner (in its log order).",
              key_overrides={"Command": ("target",)}),
    TopicSpec(
        topics.ORDERS,
        ORDER_EVENTS,
        ("venue", "symbol"),
        "Order lifecycle events (submitted, accepted, rejected, filled, canceled) per venue:symbol.",
    ),
    TopicSpec(topics.VENUE_HEALTH, ("VenueHealth",), ("venue",), "Venue API health probes per venue."),
    # Retail arbitrage (processors/retail): one stage per topic, repartitioned by the next stage's key.
    TopicSpec(topics.NORMALIZED, ("NormalizedListing",), ("retailer", "sku"),
              "Listings with derived attributes and current price."),
    TopicSpec(topics.RETAIL_REJECTED, ("ListingRejected",), ("retailer", "sku"), "Listings without a usable price."),
    TopicSpec(topics.GLITCHES, ("PriceGlitch",), ("retailer", "sku"), "Suspicious prices with evidence."),
    TopicSpec(topics.BY_BLOCK, ("BlockedListing",), ("block_key",),
              "Repartition: one record per (listing, block key), keyed by the block.", partitions=6),
    TopicSpec(topics.MATCHES, ("ProductMatch", "MatchRepriced", "ProductMatchRetracted"), ("match_id",),
              "Cross-retailer product matches and their price changes, keyed by match id.", partitions=6),
    TopicSpec(topics.OPPORTUNITIES,
              ("ArbitrageOpportunity", "ArbitrageOpportunityRevalidated", "ArbitrageOpportunityClosed"),
              ("match_id",), "Arbitrage opportunities: opened, re-validated, closed."),
    # Market-maker risk (processors/risk).
    TopicSpec(topics.RISK_INPUTS, ("PriceTick", "OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderFilled",
                                 "OrderCanceled", "VenueHealth", "Heartbeat", "Command"), ("venue",),
              "Repartition of the risk inputs by venue: the single log order live and replay follow.",
              key_overrides={"Heartbeat": ("source",), "Command": ("target",)}),
    TopicSpec(topics.DECISIONS, ("OrderApproved", "OrderRejected", "OrderCancelRequested"), ("venue", "symbol"),
              "The order gate's decision for every OrderSubmitted; operators' cancel requests (CANCEL_ORDER)."),
    TopicSpec(topics.BREAKERS, ("BreakerTransition",), ("venue",), "Circuit-breaker state transitions."),
    TopicSpec(topics.TRADING_STATE, ("TradingStateChanged",), ("venue",), "ACTIVE / REDUCING / HALTED changes."),
    TopicSpec(topics.POSITIONS, ("PositionUpdate",), ("account", "venue", "symbol"),
              "Positions and PnL after each fill and mark."),
    TopicSpec(topics.RISK_ALERTS, ("Alert",), ("alert_key",), "Risk alerts, throttled per alert key."),
    # Paper venue (processors/venue): its fills go to trading.orders.v1.
    TopicSpec(topics.PAPER_INPUTS, ("OrderApproved", "PriceTick", "OrderCancelRequested"), ("venue", "symbol"),
              "Repartition of the paper venue's inputs (approved orders, live ticks): one log order per "
              "venue:symbol that live and replay follow."),
    TopicSpec(topics.RISK_COMMANDS, ("Command",), ("target",),
              "Commands to the risk pipeline (mercado api), keyed by venue: the audit log of who asked what.",
              retention_ms=-1),
    TopicSpec(topics.RECO_COMMANDS, ("Command",), ("target",),
              "Commands to the recommendations pipeline (mercado api), keyed by job: the audit log.",
              retention_ms=-1),
    TopicSpec(topics.FEED_COMMANDS, ("Command",), ("target",),
              "Commands to the feed adapters (mercado api: REQUEST_BACKFILL), keyed by venue: the audit log.",
              retention_ms=-1),
    TopicSpec(topics.FEEDS_SERVED, ("FeedServing",), ("venue",),
              "The venue and symbols each feed that acts on commands serves, announced when it starts (compacted: "
              "the latest per venue); the gateway refuses a feed command to a venue nobody announced.",
              partitions=1, cleanup_policy="compact", retention_ms=-1),
    TopicSpec(topics.COMMAND_RESULTS, ("CommandResult",), ("idempotency_key",),
              "Each command's owner's decision: accepted, or rejected with a reason.", retention_ms=-1),
    # Stock scanner (processors/scanner).
    TopicSpec(topics.SCAN_RESULTS, ("ScanResult",), ("scanner", "session", "ticker"),
              "Each session's board, a line per ticker (compacted: the topic alone rebuilds the board; a tombstone "
              "removes a ticker that left every category).", cleanup_policy="compact"),
    TopicSpec(topics.SCAN_DELTAS, ("ScanDelta",), ("scanner", "session", "category"),
              "Board changes (entered, left, moved) with a per-board sequence number."),
    TopicSpec(topics.SCAN_BOARDS, ("ScanBoard",), ("scanner", "session"), "Board summary per scan snapshot."),
    TopicSpec(topics.SCAN_ALERTS, ("ScanAlert",), ("scanner", "ticker"),
              "Scanner alerts (new high/low, gap, relative-volume spike, halt, resume), throttled per ticker, kind."),
    TopicSpec(topics.SCAN_TOP, ("ScanTopEntry",), ("scanner", "session", "category"),
              "The top N per session and category to persist, hourly and at each session's close (event time)."),
    TopicSpec(topics.SCAN_REJECTED, ("ScanRowRejected",), ("scanner",), "Scan rows refused, with the reason."),
    # Daily recommendations (processors/recommendations): the inputs keyed by ticker (macro by indicator, job
    # requests by job), repartitioned into shards of tickers; macro values and job requests go to every shard.
    TopicSpec(topics.DAILY_BARS, ("DailyBar",), ("ticker",), "End-of-day OHLCV per ticker (BYMA, CEDEARs).",
              retention_ms=-1),
    TopicSpec(topics.FUNDAMENTALS, ("FundamentalSnapshot",), ("ticker",),
              "Fundamentals per ticker and period, with available_at.", retention_ms=-1),
    TopicSpec(topics.MACRO, ("MacroIndicator",), ("indicator",), "Macro indicator values, with available_at.",
              retention_ms=-1),
    TopicSpec(topics.SENTIMENT, ("SentimentScore",), ("ticker",), "News sentiment per ticker and day.",
              retention_ms=-1),
    TopicSpec(topics.JOB_REQUESTS, ("JobRequested",), ("job",), "Requests to run the daily job at a cutoff.",
              retention_ms=-1),
    TopicSpec(topics.RECO_INPUTS, ("DailyBar", "FundamentalSnapshot", "MacroIndicator", "SentimentScore",
                                   "JobRequested"), ("shard",),
              "Repartition of the recommendation inputs by shard of tickers (macro and job requests to every "
              "shard); the processor keys records by their ticker's shard.", partitions=6),
    TopicSpec(topics.RECOMMENDATIONS, ("Recommendation",), ("analysis_date", "ticker"),
              "BUY / HOLD / SELL per ticker and date, point in time.", retention_ms=-1),
    TopicSpec(topics.JOB_RUNS, ("JobRun",), ("job", "run_date", "shard"), "Runs of the daily job per shard.",
              retention_ms=-1),
    TopicSpec(
        topics.DEAD_LETTERS,
        (),
        (),
        "Undecodable or rejected messages: original bytes, reason and origin in headers.",
        retention_ms=90 * DAY_MS,
    ),
)

_BY_NAME = {t.name: t for t in TOPICS}
DEAD_LETTER_TOPIC = topics.DEAD_LETTERS


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
