"""The recommendations pipeline: two stages.

* ``recommendations-route``: inputs ``reco.daily-bars.v1``, ``reco.fundamentals.v1``,
  ``reco.sentiment.v1`` (keyed by ticker), ``reco.macro.v1`` (by indicator), ``reco.job-requests.v1``
  (by job), ``reco.commands.v1`` (operators' RUN_DAILY_JOB commands, by job); outputs ``reco.inputs.v1``
  keyed by shard and ``mercado.command-results.v1`` (stateless; :class:`RouteProcessor`).
* ``recommendations``: input ``reco.inputs.v1`` keyed by shard; outputs ``reco.recommendations.v1``
  [analysis_date:ticker] and ``reco.job-runs.v1`` [job:run_date:shard] (:class:`ShardProcessor`).

The stage after the repartition reads it in position order (docs/architecture.md, "Scale-out"), so any
number of workers gives the replay's outputs.
"""

from __future__ import annotations

from processors import topics
from processors.core import PipelineSpec, Record
from processors.recommendations.config import RecommendationsConfig
from processors.recommendations.processor import RouteProcessor, ShardProcessor, Shards, input_key, shard_key
from processors.stages import InProcessPipeline

ROUTE_STAGE = "recommendations-route"
SHARD_STAGE = "recommendations"
INPUT_TOPICS: tuple[str, ...] = (topics.DAILY_BARS, topics.FUNDAMENTALS, topics.MACRO, topics.SENTIMENT,
                                 topics.JOB_REQUESTS, topics.RECO_COMMANDS)
OUTPUT_TOPICS: tuple[str, ...] = (topics.RECOMMENDATIONS, topics.JOB_RUNS)


def recommendation_pipelines(config: RecommendationsConfig | None = None) -> list[PipelineSpec]:
    config = config or RecommendationsConfig()
    shards = Shards(config.shards)

    def shard_of(schema: str, record: Record) -> str:
        i = record.get("shard")  # a macro value's or job request's copy for one shard
        return shard_key(i) if i is not None else shards.of(record["ticker"])

    route = PipelineSpec(
        name=ROUTE_STAGE,
        inputs=INPUT_TOPICS,
        outputs=(topics.RECO_INPUTS, topics.COMMAND_RESULTS),
        create=lambda key: RouteProcessor(key, shards, config),
        restore=lambda key, state: RouteProcessor.restore(key, state, shards=shards, config=config),
        key_of=input_key,
    )
    shard = PipelineSpec(
        name=SHARD_STAGE,
        inputs=(topics.RECO_INPUTS,),
        outputs=OUTPUT_TOPICS,
        create=lambda key: ShardProcessor(key, config),
        restore=lambda key, state: ShardProcessor.restore(key, state, config=config),
        key_of=shard_of,
        # a JobRun carries the live worker's processing time of its shard's run in a header (the payload's
        # duration_ms stays null: a processor has no clock, and the replay's bytes equal the live run's)
        timed_outputs=("JobRun",),
    )
    return [route, shard]


class InProcessRecommendations(InProcessPipeline):
    """Both stages over in-memory records, as the workers run them (tests, backtests, the benchmark)."""

    def __init__(self, config: RecommendationsConfig | None = None, partitions: int = 6):
        self.config = config or RecommendationsConfig()
        super().__init__(recommendation_pipelines(self.config), partitions)

    def feed(self, topic: str, schema: str, record: Record) -> list:
        return self.feed_to(topic, schema, record)
