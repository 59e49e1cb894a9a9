"""The retail pipeline's three stages and an in-process runner of all of them (replay and tests).

| stage | input topic (key) | processor | output topics |
|---|---|---|---|
| ``retail-listings`` | ``retail.listings.v1`` (retailer:sku) | ListingProcessor | normalized, rejected, glitches, |
| | | | by-block |
| ``retail-matching`` | ``retail.by-block.v1`` (block key) | BlockMatcher | matches |
| ``retail-opportunities`` | ``retail.matches.v1`` (match id) | OpportunityTracker | opportunities |

Each stage reads one topic, so its inputs are co-partitioned by construction. :class:`RetailReplay`
feeds records through the stages in-process: every output whose topic is a later stage's input goes
to the partition Kafka would put it in (:func:`processors.partitioning.partition_of`) and is
processed in first-in first-out order, which keeps each partition's log order.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from processors.core import Emit, PipelineSpec, Record
from processors.partitioning import partition_of
from processors.retail.block_matcher import BlockMatcher
from processors.retail.config import RetailConfig
from processors.retail.listing_processor import ListingProcessor
from processors.retail.opportunity_tracker import OpportunityTracker
from processors.retail.records import (
    BY_BLOCK_TOPIC,
    GLITCHES_TOPIC,
    LISTINGS_TOPIC,
    MATCHES_TOPIC,
    NORMALIZED_TOPIC,
    OPPORTUNITIES_TOPIC,
    REJECTED_TOPIC,
)
from processors.runtime import PartitionRuntime

LISTINGS_STAGE = "retail-listings"
MATCHING_STAGE = "retail-matching"
OPPORTUNITIES_STAGE = "retail-opportunities"


def listing_key_of(_schema: str, record: Record) -> str:
    return f"{record['retailer']}:{record['sku']}"


def block_key_of(_schema: str, record: Record) -> str:
    return str(record["block_key"])


def match_key_of(_schema: str, record: Record) -> str:
    return str(record["match_id"])


def retail_pipelines(config: RetailConfig | None = None) -> list[PipelineSpec]:
    """One spec per stage, in pipeline order."""
    cfg = config or RetailConfig()
    return [
        PipelineSpec(
            LISTINGS_STAGE,
            (LISTINGS_TOPIC,),
            (NORMALIZED_TOPIC, REJECTED_TOPIC, GLITCHES_TOPIC, BY_BLOCK_TOPIC),
            create=lambda key: ListingProcessor(key, cfg),
            restore=lambda key, state: ListingProcessor.restore(key, state, config=cfg),
            key_of=listing_key_of,
        ),
        PipelineSpec(
            MATCHING_STAGE,
            (BY_BLOCK_TOPIC,),
            (MATCHES_TOPIC,),
            create=lambda key: BlockMatcher(key, cfg),
            restore=lambda key, state: BlockMatcher.restore(key, state, config=cfg),
            key_of=block_key_of,
        ),
        PipelineSpec(
            OPPORTUNITIES_STAGE,
            (MATCHES_TOPIC,),
            (OPPORTUNITIES_TOPIC,),
            create=lambda key: OpportunityTracker(key, cfg),
            restore=lambda key, state: OpportunityTracker.restore(key, state, config=cfg),
            key_of=match_key_of,
        ),
    ]


class RetailReplay:
    """All stages of the retail pipeline in one process, fed record by record."""

    def __init__(self, config: RetailConfig | None = None, partitions: int = 3):
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.specs = retail_pipelines(config)
        self.partitions = partitions
        self.runtimes = [[PartitionRuntime(spec) for _ in range(partitions)] for spec in self.specs]
        self._stage_of = {spec.inputs[0]: i for i, spec in enumerate(self.specs)}
        # key -> partition, per stage (as many entries as the stage has processors)
        self._partition_of: list[dict[str, int]] = [{} for _ in self.specs]

    def feed(self, record: Record, schema: str = "RetailListing", topic: str = LISTINGS_TOPIC) -> list[Emit]:
        """One input record; returns every output of every stage it caused, in production order."""
        stage = self._stage_of[topic]
        key = self.specs[stage].key_of(schema, record)
        return self._drain(deque([(stage, key, schema, record)]))

    def advance(self, now_us: int) -> list[Emit]:
        """Moves every partition clock of every stage to ``now_us`` (due timers fire), stage by stage."""
        out: list[Emit] = []
        stage_of = self._stage_of
        for runtimes in self.runtimes:
            for rt in runtimes:
                fired = rt.advance(now_us)
                if not fired:
                    continue
                queue: deque[tuple[int, str, str, Record]] = deque()
                for e in fired:
                    out.append(e)
                    nxt = stage_of.get(e.topic)  # _forward, inlined
                    if nxt is not None:
                        queue.append((nxt, e.key, e.schema, e.record))
                if queue:
                    out.extend(self._drain(queue))
        return out

    def _forward(self, e: Emit, queue: deque[tuple[int, str, str, Record]]) -> None:
        nxt = self._stage_of.get(e.topic)
        if nxt is not None:
            queue.append((nxt, e.key, e.schema, e.record))

    def _drain(self, queue: deque[tuple[int, str, str, Record]]) -> list[Emit]:
        out: list[Emit] = []
        stage_of, cached, runtimes = self._stage_of, self._partition_of, self.runtimes
        while queue:
            stage, key, schema, record = queue.popleft()
            partitions = cached[stage]
            p = partitions.get(key)
            if p is None:
                p = partitions[key] = partition_of(key, self.partitions)
            for e in runtimes[stage][p].process(schema, record, key):
                out.append(e)
                nxt = stage_of.get(e.topic)  # _forward, inlined
                if nxt is not None:
                    queue.append((nxt, e.key, e.schema, e.record))
        return out

    def run(self, records: list[Record], until_us: int | None = None) -> list[Emit]:
        out: list[Emit] = []
        for r in records:
            out.extend(self.feed(r))
        if until_us is not None:
            out.extend(self.advance(until_us))
        return out

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        """JSON-able state of every partition of every stage."""
        return {
            "partitions": self.partitions,
            "stages": {
                spec.name: [rt.snapshot() for rt in runtimes]
                for spec, runtimes in zip(self.specs, self.runtimes, strict=True)
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any], config: RetailConfig | None = None) -> RetailReplay:
        replay = cls(config, state["partitions"])
        for spec, runtimes in zip(replay.specs, replay.runtimes, strict=True):
            for rt, snap in zip(runtimes, state["stages"][spec.name], strict=True):
                rt.restore(snap)
        return replay

    def comparisons(self) -> int:
        """Pairs the matchers scored (since they were built or restored)."""
        stage = self.runtimes[1]
        return sum(p.comparisons for rt in stage for p in rt.processors.values() if isinstance(p, BlockMatcher))


def run_retail(
    records: list[Record], config: RetailConfig | None = None, partitions: int = 3, until_us: int | None = None
) -> list[Emit]:
    """Every output of the retail pipeline for these RetailListing records (wire form), in order."""
    return RetailReplay(config, partitions).run(records, until_us)
