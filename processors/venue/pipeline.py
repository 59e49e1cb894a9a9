"""The paper-venue pipeline (``mercado venue paper``): two stages, and a pure in-process runner of both.

* ``paper-rekey``: inputs ``risk.order-decisions.v1`` and ``md.ticks.v1`` (both keyed venue:symbol, three
  partitions: already co-partitioned); output ``paper.inputs.v1`` keyed venue:symbol — the approved orders,
  cancel requests and live ticks of the served venues, the same records. Stateless. The keys do not change; the stage
  exists for the order: a stateful stage must not merge two topics itself (docs/architecture.md,
  "Scale-out": no merge before a repartition), so the decisions and the ticks meet in one topic that the
  next stage reads in position order, the order a replay gives.
* ``paper-venue``: input ``paper.inputs.v1``; output ``trading.orders.v1`` (the order lifecycle,
  :class:`~processors.venue.paper.PaperVenueProcessor`), which the risk pipeline consumes: orders → risk gate
  → paper venue → fills → positions → breakers.
"""

from __future__ import annotations

from typing import Any, Self

from processors import topics
from processors.core import Emit, KeyedProcessor, PipelineSpec, Record
from processors.risk.rekey import input_key
from processors.stages import InProcessPipeline
from processors.venue.config import PaperVenueConfig
from processors.venue.paper import PaperVenueProcessor

REKEY_STAGE = "paper-rekey"
PAPER_STAGE = "paper-venue"
INPUT_TOPICS: tuple[str, ...] = (topics.DECISIONS, topics.TICKS)
INPUT_RECORDS: tuple[str, ...] = ("OrderApproved", "PriceTick", "OrderCancelRequested")  # of paper.inputs.v1


def market_key(schema: str, record: Record) -> str:
    return f"{record['venue']}:{record['symbol']}"


class PaperInputRouter:
    """What the rekey stage forwards: approvals, cancel requests and live ticks (not backfill replacements)
    of served venues."""

    def __init__(self, config: PaperVenueConfig | None = None):
        self.config = config or PaperVenueConfig()

    def forwards(self, schema: str, record: Record) -> bool:
        if schema in ("OrderApproved", "OrderCancelRequested"):
            return self.config.serves(record["venue"])
        if schema == "PriceTick":
            return record["backfill_id"] is None and self.config.serves(record["venue"])
        return False  # risk rejections, Heartbeats, BackfillComplete


class PaperRekeyProcessor(KeyedProcessor):
    """Stateless: forwards each relevant event of its key to ``paper.inputs.v1``, same key."""

    def __init__(self, key: str, router: PaperInputRouter):
        super().__init__(key)
        self.router = router

    def on_event(self, schema: str, record: Record) -> list[Emit]:
        if not self.router.forwards(schema, record):
            return []
        return [Emit(topics.PAPER_INPUTS, market_key(schema, record), schema, record)]

    def snapshot(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, key: str, state: dict[str, Any], **config: Any) -> Self:
        return cls(key, config.get("router") or PaperInputRouter(config.get("config")))


def paper_pipelines(config: PaperVenueConfig | None = None) -> list[PipelineSpec]:
    """The two stages, in data-flow order: rekey, then the paper venue."""
    config = config or PaperVenueConfig()
    router = PaperInputRouter(config)
    return [
        PipelineSpec(
            name=REKEY_STAGE,
            inputs=INPUT_TOPICS,
            outputs=(topics.PAPER_INPUTS,),
            create=lambda key: PaperRekeyProcessor(key, router),
            restore=lambda key, state: PaperRekeyProcessor.restore(key, state, router=router),
            key_of=input_key,
        ),
        PipelineSpec(
            name=PAPER_STAGE,
            inputs=(topics.PAPER_INPUTS,),
            outputs=(topics.ORDERS,),
            create=lambda key: PaperVenueProcessor(key, config),
            restore=lambda key, state: PaperVenueProcessor.restore(key, state, config=config),
            key_of=market_key,
        ),
    ]


class InProcessPaper(InProcessPipeline):
    """Both stages over in-memory ``(topic, schema, record)`` events (:meth:`run_events`), as the workers run
    them; its outputs include the repartition topic's."""

    def __init__(self, config: PaperVenueConfig | None = None, partitions: int = 3):
        self.config = config or PaperVenueConfig()
        super().__init__(paper_pipelines(self.config), partitions)

    def processor(self, key: str) -> PaperVenueProcessor:
        proc = self.processor_of(1, key)
        assert isinstance(proc, PaperVenueProcessor)
        return proc


def run_paper(events: list[tuple[str, str, Record]], config: PaperVenueConfig | None = None,
              until_us: int | None = None) -> list[Emit]:
    """The lifecycle events (``trading.orders.v1``) the paper venue emits for ``events``, in output order."""
    out = InProcessPaper(config).run_events(events, until_us)
    return [e for e in out if e.topic == topics.ORDERS]
