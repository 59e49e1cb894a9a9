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

import asyncio
import time
from typing import Any

import orjson

from streams import metrics
from streams.align import EventTimeAligner, Held, is_held_key, pending_check, restore_held
from streams.catalog import DEAD_LETTER_TOPIC
from streams.config import Settings
from streams.consumer import dead_letter_headers
from streams.driver import PipelineDriver, Rejected
from streams.replay import kafka_partition


class CommitGate:
    """Keeps faust's commits between batches, never inside one.

    faust's commit timer runs concurrently with the agents: with ``exactly_once`` it commits the
    acknowledged offsets together with whatever the producer's open transaction holds. An agent
    that is half-way through a batch has already sent part of that batch's outputs and state, while
    the batch's offsets are acknowledged only after it (``take_events`` acks in its ``finally``). A
    commit in between makes those outputs durable with the offsets of the batch *before*, so a kill
    then re-processes the batch on top of state that already contains it. The gate makes a commit
    wait until no agent is inside a batch, and holds new batches back while a commit waits. (faust
    has no hook for this; the gate wraps the consumer's ``commit``, which every commit path calls.)

    The agent leaves the gate synchronously and ``take_events`` acks the batch before its next
    suspension point, so the waiting commit always sees the batch acknowledged. An agent that fails
    inside a batch marks the gate broken: that process commits nothing more, and the restarted worker
    aborts the open transaction (``init_transactions`` fences it).
    """

    def __init__(self) -> None:
        self.active = 0  # agents inside a batch
        self.waiting = 0  # commits waiting for them
        self.broken = False
        self.installed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()

    def install(self, consumer: Any) -> None:
        if self.installed:
            return
        self.installed = True
        commit = consumer.commit

        async def gated_commit(*args: Any, **kwargs: Any) -> bool:
            self.waiting += 1
            self._open.clear()
            try:
                await self._idle.wait()
                if self.broken:
                    return False
                return await commit(*args, **kwargs)
            finally:
                self.waiting -= 1
                if not self.waiting:
                    self._open.set()

        consumer.commit = gated_commit

    async def enter(self) -> None:
        while self.waiting:
            await self._open.wait()
        self.active += 1
        self._idle.clear()

    def leave(self) -> None:
        self.active -= 1
        if not self.active:
            self._idle.set()


class TransactionalSend:
    """Sends a stage's outputs, dead letters and state in the transaction of the input partition they
    come from — the transaction faust commits that partition's offsets in.

    faust 0.15's own ``Topic.send`` picks the transaction from the *destination* partition, and only
    for topics its consumer has metadata for: a derived topic nobody in the app consumes gets no
    transaction at all (at-least-once: a kill between the send and the commit duplicates it), and a
    repartition topic with another partition count lands in a transaction that is committed only with
    offsets of *its* partitions (it can sit uncommitted until the transaction times out). Routing every
    record by its source partition is what makes "outputs, state and offsets of a partition in one
    transaction" true. Destination partitions use Kafka's murmur2 partitioner on the key, as every
    Mercado producer does.
    """

    def __init__(self, app: Any, partitions: dict[str, int]) -> None:
        self.app = app
        self.partitions = partitions  # physical topic -> partition count
        self._tids: dict[tuple[str, int], str] = {}

    def transactional_id(self, source_topic: str, source_partition: int) -> str:
        tid = self._tids.get((source_topic, source_partition))
        if tid is None:
            group = self.app.assignor.group_for_topic(source_topic)
            tid = self._tids[(source_topic, source_partition)] = f"{self.app.conf.id}-{group}-{source_partition}"
        return tid

    async def send(self, source_topic: str, source_partition: int, topic: str, key: bytes | None,
                   value: bytes | None, *, partition: int | None = None, timestamp_s: float | None = None,
                   headers: Any = None) -> None:
        if partition is None:
            partition = kafka_partition(key.decode(), self.partitions[topic]) if key else 0
        await self.app.consumer.transactions.producer.send(
            topic, key, value, partition, timestamp_s, headers,
            transactional_id=self.transactional_id(source_topic, source_partition),
        )


class StageAligner:
    """The worker side of :class:`~streams.align.EventTimeAligner` for a stage with several input
    topics: feeds it each batch, releases what may go, and keeps the held messages in the stage's
    state table (written and deleted in the batch's transaction), so a restarted worker holds exactly
    what the killed one held — their offsets are committed, the messages live in the changelog."""

    def __init__(self, app: Any, state: Any, sender: TransactionalSend, changelog: str, inputs: set[str]) -> None:
        from faust.types import TP

        self.app, self.state, self.sender, self.changelog, self.inputs = app, state, sender, changelog, inputs
        self.aligner = EventTimeAligner()
        self.positions: dict[tuple[str, int], int] = {}
        self.saved: set[Held] = set()  # held messages written to the state table
        self.restored = False
        self.pending = pending_check(self.positions, lambda t, p: app.consumer.highwater(TP(t, p)))

    def arrived(self, messages: list) -> list[Held]:
        if not self.restored:
            self.restored = True
            for held in restore_held((k.decode(), v) for k, v in list(self.state.data.items())):
                self.aligner.add(held)
                self.saved.add(held)
        self.aligner.assign((tp.topic, tp.partition) for tp in self.app.consumer.assignment()
                            if tp.topic in self.inputs)
        for msg in messages:
            self.positions[(msg.topic, msg.partition)] = msg.offset + 1
            headers = msg.headers or ()
            if isinstance(headers, dict):
                headers = headers.items()
            # faust gives the Kafka timestamp in seconds (a float); the replay merges on the integer ms.
            self.aligner.add(Held(msg.topic, msg.partition, msg.offset, round(msg.timestamp * 1000), msg.key,
                                  msg.value, tuple(headers)))
        released = self.aligner.release(self.pending)
        self.released = released
        return released

    async def save(self) -> None:
        """Writes newly held messages and deletes released ones (in the current transaction)."""
        for held in self.released:
            if held in self.saved:
                self.saved.discard(held)
                key = held.state_key.encode()
                self.state.data.pop(key, None)
                await self.sender.send(held.topic, held.partition, self.changelog, key, None, partition=held.partition)
        for held in self.aligner.held():
            if held not in self.saved:
                self.saved.add(held)
                key, value = held.state_key.encode(), held.dumps()
                self.state.data[key] = value
                await self.sender.send(held.topic, held.partition, self.changelog, key, value, partition=held.partition)
        self.released = []


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
    app.mercado_gate = CommitGate()
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
    output_topics = {name: settings.topic(name) for name in spec.outputs}
    dead_letter_topic = settings.topic(DEAD_LETTER_TOPIC)
    source_name = settings.topic(spec.inputs[0])  # state partition p rides in the transaction of (input 0, p)
    partitions = topic(spec.inputs[0]).partitions  # the table is co-partitioned with the stage's input
    state = app.Table(
        f"{spec.name}-state", partitions=partitions, key_type=bytes, value_type=bytes, use_partitioner=True
    )
    changelog = state.changelog_topic
    changelog_name = changelog.get_topic_name()
    sender = TransactionalSend(app, {
        **{settings.topic(name): topic(name).partitions for name in spec.outputs},
        settings.topic(DEAD_LETTER_TOPIC): topic(DEAD_LETTER_TOPIC).partitions,
    })

    def load_partition(partition: int) -> list[tuple[str, dict[str, Any]]]:
        saved = ((k.decode(), v) for k, v in list(state.data.items()))
        return [(key, value) for key, value in ((k, orjson.loads(v)) for k, v in saved if not is_held_key(k))
                if value.get("partition") == partition]

    driver = PipelineDriver(spec, serde, load_partition=load_partition)
    physical_inputs = {settings.topic(t) for t in spec.inputs}

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            if tp.topic in physical_inputs:
                driver.forget_partition(tp.partition)

    group = f"{settings.topic_prefix}mercado-{pipeline}"
    events_in = {t: metrics.EVENTS_IN.labels(settings.topic(t), spec.name) for t in spec.inputs}
    events_out = {t: metrics.EVENTS_OUT.labels(settings.topic(t), spec.name) for t in spec.outputs}
    lag = metrics.PROCESSING_LAG.labels(spec.name)

    gate: CommitGate = app.mercado_gate

    aligner = StageAligner(app, state, sender, changelog_name, physical_inputs) if len(spec.inputs) > 1 else None

    @app.agent(source, name=f"mercado-{spec.name}")
    async def run(stream: Any) -> None:
        gate.install(app.consumer)
        async for events in stream.take_events(batch_max, within=batch_within_s):
            await gate.enter()
            try:
                if aligner is None:
                    await handle([event.message for event in events])
                else:
                    await handle(aligner.arrived([event.message for event in events]))
                    await aligner.save()
                _observe_batch(app, events, events_in, lag, group)
            except BaseException:
                gate.broken = True  # half a batch was sent: this process must never commit again
                raise
            finally:
                gate.leave()

    if aligner is not None:

        @app.timer(interval=0.25)
        async def release_held() -> None:
            """Held messages also go when no new message arrives (a partition caught up or went idle)."""
            if not aligner.aligner.held_count:
                return
            await gate.enter()
            try:
                await handle(aligner.arrived([]))
                await aligner.save()
            except BaseException:
                gate.broken = True
                raise
            finally:
                gate.leave()

    async def handle(messages: list) -> None:
        for msg in messages:
            result = driver.process(msg.topic, msg.partition, msg.offset, msg.value, msg.headers)
            if isinstance(result, Rejected):
                metrics.DEAD_LETTERS.labels(msg.topic, result.error.reason).inc()
                await sender.send(
                    msg.topic, msg.partition, dead_letter_topic, msg.key, msg.value or b"",
                    headers=dead_letter_headers(msg.topic, msg.partition, msg.offset, result.error,
                                                list(msg.headers or [])),
                )
                continue
            for out in result:
                await sender.send(msg.topic, msg.partition, output_topics[out.topic], out.key.encode(), out.value,
                                  timestamp_s=out.timestamp_ms / 1000)
                events_out[out.topic].inc()
                if out.emit.schema == "LateTick":
                    metrics.LATE_TICKS.labels(out.emit.record["venue"], out.emit.record["symbol"]).inc()
        # The batch's state goes into the same transaction as its outputs, before its offsets are
        # acknowledged. (``table[key] = v`` would queue the changelog write with send_soon, which
        # faust may publish after the commit that covers the batch: a kill in between loses state.)
        for key, partition in driver.take_touched().items():
            raw_key, value = key.encode(), orjson.dumps(driver.saved_state(key, partition))
            state.data[raw_key] = value
            await sender.send(source_name, partition, changelog_name, raw_key, value, partition=partition)

    return driver


def _observe_batch(app: Any, events: list, events_in: dict, lag: Any, group: str) -> None:
    """Metrics of one batch: events in per topic, lag of its newest event, consumer lag per partition."""
    counts: dict[str, int] = {}
    newest_s = 0.0
    last_offsets: dict[Any, int] = {}
    for event in events:
        msg = event.message
        counts[msg.topic] = counts.get(msg.topic, 0) + 1
        last_offsets[msg.tp] = msg.offset
        newest_s = max(newest_s, msg.timestamp)
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
