"""The retail pipeline's three stages and an in-process runner of all of them (replay and tests).

| stage | input topic (key) | processor | output topics |
|---|---|---|---|
| ``retail-listings`` | ``retail.listings.v1`` (retailer:sku) | ListingProcessor | normalized, rejected, glitches, |
| | | | by-block |
| ``retail-matching`` | ``retail.by-block.v1`` (block key) | BlockMatcher | matches |
| ``retail-opportunities`` | ``retail.matches.v1`` (match id) | OpportunityTracker | opportunities |

Each stage reads one topic, so its inputs are co-partitioned by construction. :class:`RetailReplay`
runs the stages in-process with the runner every pipeline shares (:mod:`processors.stages`): every output
whose topic is a later stage's input goes to the partition Kafka would put it in and is processed in
first-in first-out order, which keeps each partition's log order.
"""

from __future__ import annotations

from typing import Any

from processors import topics
from processors.core import Emit, PipelineSpec, Record
from processors.retail.block_matcher import BlockMatcher
from processors.retail.config import RetailConfig
from processors.retail.listing_processor import ListingProcessor
from processors.retail.opportunity_tracker import OpportunityTracker
from processors.stages import InProcessPipeline

LISTINGS_STAGE = "retail-listings"
MATCHING_STAGE = "retail-matching"
OPPORTUNITIES_STAGE = "retail-opportunities"


def listing_key_of(_schema: str, record: Record) -> str:
    return f"{record['retailer']}:{record['sku']}"


def block_key_of(_schema: str, record: Record) -> str:
    return str(record["block_key"])


def match_key_of(_schema: str, record: Record) -> str:
    return str(record["match_id"])


def _stage(
    name: str, inputs: tuple[str, ...], outputs: tuple[str, ...], processor: Any, key_of: Any, cfg: RetailConfig
) -> PipelineSpec:
    return PipelineSpec(
        name,
        inputs,
        outputs,
        create=lambda key: processor(key, cfg),
        restore=lambda key, state: processor.restore(key, state, config=cfg),
        key_of=key_of,
    )


def retail_pipelines(config: RetailConfig | None = None) -> list[PipelineSpec]:
    """One spec per stage, in pipeline order."""
    cfg = config or RetailConfig()
    listing_outputs = (topics.NORMALIZED, topics.RETAIL_REJECTED, topics.GLITCHES, topics.BY_BLOCK)
    return [
        _stage(LISTINGS_STAGE, (topics.LISTINGS,), listing_outputs, ListingProcessor, listing_key_of, cfg),
        _stage(MATCHING_STAGE, (topics.BY_BLOCK,), (topics.MATCHES,), BlockMatcher, block_key_of, cfg),
        _stage(OPPORTUNITIES_STAGE, (topics.MATCHES,), (topics.OPPORTUNITIES,), OpportunityTracker, match_key_of, cfg),
    ]


class RetailReplay(InProcessPipeline):
    """All stages of the retail pipeline in one process (:class:`~processors.stages.InProcessPipeline`),
    fed RetailListing records."""

    def __init__(self, config: RetailConfig | None = None, partitions: int = 3):
        super().__init__(retail_pipelines(config), partitions)

    def feed(self, record: Record, schema: str = "RetailListing", topic: str = topics.LISTINGS) -> list[Emit]:
        """One input record; returns every output of every stage it caused, in production order."""
        return self.feed_to(topic, schema, record)

    def run(self, records: list[Record], until_us: int | None = None) -> list[Emit]:
        return self.run_events(((topics.LISTINGS, "RetailListing", r) for r in records), until_us=until_us)

    @classmethod
    def restore(cls, state: dict[str, Any], config: RetailConfig | None = None) -> RetailReplay:
        replay = cls(config, state["partitions"])
        replay.restore_state(state)
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
