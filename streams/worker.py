"""``mercado worker``: the live runtime, a faust-streaming app whose agent drives a pipeline.

* One agent per pipeline consumes its input topic(s) as raw bytes in batches
  (``stream.take_events(max, within=...)``) and feeds each event, in partition order, to the same
  :class:`~streams.driver.PipelineDriver` the replay uses (so live == replay by construction).
* Per-key processor state lives in a changelog-backed faust table (``<pipeline>-state``): after each
  batch, the snapshot of every key the batch touched is written to the table. Keys are restored from
  it lazily, the first time a key shows up after a (re)start or rebalance. The table uses the
  producer's partitioner on the key, the same murmur2 every Mercado producer uses, so a key's state
  lives in the changelog partition numbered like its input partition.
* ``processing_guarantee="exactly_once"``: outputs, changelog writes and input offsets of a partition
  are committed in one Kafka transaction, so a worker killed at any instant resumes from a state and
  an offset that match, and consumers reading ``read_committed`` never see an output twice.
  Every output is keyed like its input (``venue:symbol``), so it belongs to its input partition's
  transaction.
* Undecodable input goes to the dead-letter topic, never stops the agent.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from streams import metrics
from streams.catalog import DEAD_LETTER_TOPIC
from streams.config import Settings
from streams.consumer import dead_letter_headers
from streams.driver import PipelineDriver, Rejected


def create_app(settings: Settings, pipeline: str, *, batch_max: int = 2000, batch_within_s: float = 0.05) -> Any:
    """A faust app with one agent (and one state table) per stage of the pipeline."""
    import faust

    from streams.consumer import default_serde
    from streams.pipelines import build_stages

    stages = build_stages(pipeline, settings)
    app = faust.App(
        f"{settings.topic_prefix}mercado-{pipeline}",
        broker=f"kafka://{settings.bootstrap()}",
        store="memory://",
        processing_guarantee="exactly_once",
        topic_replication_factor=1,
        topic_partitions=3,
        table_standby_replicas=0,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.worker_commit_interval_s,
        stream_wait_empty=False,
        datadir=str(settings.state_dir / "faust"),
        key_serializer="raw",
        value_serializer="raw",
    )
    serde = default_serde(settings)
    app.mercado_drivers = {}  # stage name -> driver, for tests
    for spec in stages:
        app.mercado_drivers[spec.name] = _add_stage(app, settings, pipeline, spec, serde, batch_max, batch_within_s)
    return app


def _add_stage(
    app: Any, settings: Settings, pipeline: str, spec: Any, serde: Any, batch_max: int, batch_within_s: float
) -> PipelineDriver:
    from streams.catalog import topic

    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(*(settings.topic(t) for t in spec.inputs), **raw)
    outputs = {name: app.topic(settings.topic(name), **raw) for name in spec.outputs}
    dead_letters = app.topic(settings.topic(DEAD_LETTER_TOPIC), **raw)
    partitions = topic(spec.inputs[0]).partitions  # the table is co-partitioned with the stage's input
    state = app.Table(
        f"{spec.name}-state", partitions=partitions, key_type=bytes, value_type=bytes, use_partitioner=True
    )
    changelog = state.changelog_topic

    def load_state(key: str) -> dict[str, Any] | None:
        saved = state.get(key.encode())
        return orjson.loads(saved) if saved else None

    driver = PipelineDriver(spec, serde, load_state=load_state)
    group = f"{settings.topic_prefix}mercado-{pipeline}"
    events_in = {t: metrics.EVENTS_IN.labels(settings.topic(t), spec.name) for t in spec.inputs}
    events_out = {t: metrics.EVENTS_OUT.labels(settings.topic(t), spec.name) for t in spec.outputs}
    lag = metrics.PROCESSING_LAG.labels(spec.name)

    @app.agent(source, name=f"mercado-{spec.name}")
    async def run(stream: Any) -> None:
        async for events in stream.take_events(batch_max, within=batch_within_s):
            newest = 0
            last_offsets: dict[Any, int] = {}
            for event in events:
                msg = event.message
                last_offsets[msg.tp] = msg.offset
                newest = max(newest, msg.timestamp)
                result = driver.process(msg.topic, msg.partition, msg.offset, msg.value, msg.headers)
                if isinstance(result, Rejected):
                    metrics.DEAD_LETTERS.labels(msg.topic, result.error.reason).inc()
                    await dead_letters.send(
                        key=msg.key, value=msg.value or b"",
                        headers=dead_letter_headers(msg.topic, msg.partition, msg.offset, result.error,
                                                    list(msg.headers or [])),
                    )
                    continue
                for out in result:
                    await outputs[out.topic].send(
                        key=out.key.encode(), value=out.value, timestamp=out.timestamp_ms / 1000
                    )
                    events_out[out.topic].inc()
                    if out.emit.schema == "LateTick":
                        metrics.LATE_TICKS.labels(out.emit.record["venue"], out.emit.record["symbol"]).inc()
            # The batch's state goes into the same transaction as its outputs, before its offsets are
            # acknowledged. (``table[key] = v`` would queue the changelog write with send_soon, which
            # faust may publish after the commit that covers the batch: a kill in between loses state.)
            for key, partition in driver.take_touched().items():
                raw_key, value = key.encode(), orjson.dumps(driver.saved_state(key, partition))
                state.data[raw_key] = value
                await changelog.send(key=raw_key, value=value, partition=partition)
            _observe_batch(app, events, events_in, lag, newest, last_offsets, group)

    return driver


def _observe_batch(
    app: Any, events: list, events_in: dict, lag: Any, newest_s: float, last_offsets: dict, group: str
) -> None:
    """Metrics of one batch: events in per topic, lag of its newest event, consumer lag per partition."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event.message.topic] = counts.get(event.message.topic, 0) + 1
    for physical, n in counts.items():
        for logical, counter in events_in.items():
            if physical.endswith(logical):
                counter.inc(n)
    if newest_s:
        lag.observe(max(0.0, time.time() - newest_s))
    for tp, offset in last_offsets.items():
        highwater = app.consumer.highwater(tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, highwater - offset - 1))


def run_worker(settings: Settings, pipeline: str, loglevel: str = "warn") -> None:
    """Runs until SIGTERM / Ctrl-C (faust's worker handles both gracefully); serves metrics."""
    import faust

    metrics.serve_metrics("worker", settings)
    app = create_app(settings, pipeline)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
