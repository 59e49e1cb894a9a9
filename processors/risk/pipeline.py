"""The risk pipeline: two stages, and a pure in-process runner of both.

* ``risk-rekey``: inputs ``trading.orders.v1``, ``trading.venue-health.v1``, ``md.ticks.v1`` (each keyed
  as on its topic); output ``risk.inputs.v1`` keyed by venue (stateless; see :mod:`processors.risk.rekey`).
* ``risk``: input ``risk.inputs.v1`` keyed by venue; outputs ``risk.order-decisions.v1``,
  ``risk.breakers.v1``, ``risk.trading-state.v1``, ``risk.positions.v1``, ``risk.alerts.v1``
  (:class:`~processors.risk.processor.VenueRiskProcessor`).

:class:`InProcessRisk` runs both over records in memory exactly as the workers would over Kafka: the
records' order is the order in which the rekey stage consumed them, so it is the order of the
repartition topic; each venue goes to the partition Kafka's partitioner gives its key, and each
partition has its own :class:`~processors.runtime.PartitionRuntime` (timers fire on the partition's
clock). The rekey stage is stateless and has no timers, so running its routing function directly is
running the stage. Used for replay-parity tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from processors import topics
from processors.core import Emit, PipelineSpec, Record
from processors.risk.config import RiskConfig
from processors.risk.processor import VenueRiskProcessor
from processors.risk.records import INPUT_TOPICS, OUTPUT_TOPICS
from processors.risk.rekey import InputRouter, RiskRekeyProcessor, input_key, venue_key
from processors.stages import InProcessPipeline

REKEY_STAGE = "risk-rekey"
RISK_STAGE = "risk"
INPUTS_PARTITIONS = 3  # partitions of risk.inputs.v1 (the catalog default)


def rekey_pipeline(config: RiskConfig | None = None) -> PipelineSpec:
    router = InputRouter(config)
    return PipelineSpec(
        name=REKEY_STAGE,
        inputs=INPUT_TOPICS,
        outputs=(topics.RISK_INPUTS,),
        create=lambda key: RiskRekeyProcessor(key, router),
        restore=lambda key, state: RiskRekeyProcessor.restore(key, state, router=router),
        key_of=input_key,
    )


def risk_stage_pipeline(config: RiskConfig | None = None) -> PipelineSpec:
    config = config or RiskConfig()
    return PipelineSpec(
        name=RISK_STAGE,
        inputs=(topics.RISK_INPUTS,),
        outputs=OUTPUT_TOPICS,
        create=lambda key: VenueRiskProcessor(key, config),
        restore=lambda key, state: VenueRiskProcessor.restore(key, state, config=config),
        key_of=venue_key,
    )


def risk_pipelines(config: RiskConfig | None = None) -> list[PipelineSpec]:
    """The two stages, in data-flow order: rekey, then risk."""
    config = config or RiskConfig()
    return [rekey_pipeline(config), risk_stage_pipeline(config)]


class InProcessRisk(InProcessPipeline):
    """Both stages over in-memory records (schema short name, wire-form record), deterministically, with
    the runner every pipeline shares (:class:`~processors.stages.InProcessPipeline`). The rekey stage is
    stateless and has no timers, so :meth:`feed` runs its routing function directly instead of its
    runtime (same outputs to the risk stage, without an Emit per input); its outputs (the
    ``risk.inputs.v1`` events) are not returned."""

    def __init__(self, config: RiskConfig | None = None, partitions: int = INPUTS_PARTITIONS):
        self.config = config or RiskConfig()
        super().__init__(risk_pipelines(self.config), partitions)
        self.router = InputRouter(self.config)
        self.spec = self.specs[1]
        self._destination = self.router.destination
        self._process_of: dict[str, Callable[..., list[Emit]]] = {}  # venue -> its partition runtime's process

    def feed(self, schema: str, record: Record) -> list[Emit]:
        key = self._destination(schema, record)
        if key is None:
            return []
        process = self._process_of.get(key)
        if process is None:
            process = self._process_of[key] = self.runtimes[1][self.routes.partition(topics.RISK_INPUTS, key)].process
        return process(schema, record, key)

    def run(self, records: Iterable[tuple[str, Record]]) -> list[Emit]:
        out: list[Emit] = []
        for schema, record in records:
            out.extend(self.feed(schema, record))
        return out

    def processor(self, venue: str) -> VenueRiskProcessor:
        proc = self.processor_of(1, venue)
        assert isinstance(proc, VenueRiskProcessor)
        return proc

    @classmethod
    def restore(cls, state: dict[str, Any], config: RiskConfig | None = None) -> InProcessRisk:
        run = cls(config, state["partitions"])
        run.restore_state(state)
        return run


def run_risk(records: Iterable[tuple[str, Record]], config: RiskConfig | None = None,
             partitions: int = INPUTS_PARTITIONS) -> list[Emit]:
    """All outputs of both stages over ``records``, in output order."""
    return InProcessRisk(config, partitions).run(records)
