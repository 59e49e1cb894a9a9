"""``mercado worker``: the live runtime, a faust-streaming app whose agent drives a pipeline.

* One agent per pipeline consumes its input topic(s) as raw bytes in batches
  (``stream.take_events(max, within=...)``) and feeds each event, in partition order, to the same
  :class:`~streams.runtime.driver.PipelineDriver` the replay uses (so live == replay by construction).
* Per-key processor state lives in a changelog-backed faust table (``<stage>-state``): after each
  batch, the snapshot of every key whose state changed (an event or a timer) is written to the table.
  When a partition's first event arrives after a (re)start or rebalance, all of that partition's keys
  are restored from it, with the partition clock and their pending timers. faust's recovery of the
  table is patched to read each changelog partition to the end the broker reports
  (:func:`read_changelog_ends_from_the_broker`).
* ``processing_guarantee="exactly_once"``, with one Kafka transaction per worker
  (:class:`TransactionalSend`): a batch's outputs, dead letters and state writes and the input offsets
  of every partition commit together, so a worker killed at any instant resumes from a state and an
  offset that match, and consumers reading ``read_committed`` never see an output twice.
  :class:`CommitGate` keeps faust's commits between batches.
* A rebalance revokes partitions only once the agent has processed and acknowledged every event it
  took (``stream_wait_empty=True``: faust's revocation waits for them, committing): the agent's
  in-memory state of a revoked partition is dropped (``forget_revoked``) only between batches.
* A stage that reads several topics, or whose outputs feed a later stage, merges its input partitions
  in the replay's event-time order (:class:`StageAligner`, ``streams/runtime/align.py``) — the partitions
  this worker owns. Limit: that is the replay's order with one worker per pipeline only. The faust engine
  does not implement the scale-out rule (positions and progress markers on repartition topics,
  docs/architecture.md); run multi-stage pipelines (risk, retail) on several workers with the native engine.
* Undecodable input goes to the dead-letter topic, never stops the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from processors.partitioning import partition_of
from streams.config import Settings
from streams.engines.live import (
    LiveAligner,
    Router,
    StateWrite,
    group_id,
    observe_batch,
    saved_keys,
    state_table_name,
    state_writes,
)
from streams.kafka.catalog import DEAD_LETTER_TOPIC
from streams.kafka.headers import PROCESSING_HEADER, is_marker
from streams.observability import metrics
from streams.runtime.align import Held
from streams.runtime.driver import PipelineDriver


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
        self.sender: TransactionalSend | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()

    def install(self, consumer: Any) -> None:
        if self.installed:
            return
        self.installed = True
        commit_in_one_transaction(consumer.app)
        commit = consumer.commit

        async def gated_commit(*args: Any, **kwargs: Any) -> bool:
            self.waiting += 1
            self._open.clear()
            try:
                await self._idle.wait()
                if self.broken:
                    return False
                committed = await commit(*args, **kwargs)
                if self.sender is not None:
                    await self.sender.commit_leftovers()
                return committed
            finally:
                self.waiting -= 1
                if not self.waiting:
                    self._open.set()

        consumer.commit = gated_commit

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Around one batch's processing and sends. Leaving does not suspend, so ``take_events`` acks
        the batch before a waiting commit can run. A batch that fails half-sent marks the gate broken:
        this process must never commit again."""
        while self.waiting:
            await self._open.wait()
        self.active += 1
        self._idle.clear()
        try:
            yield
        except BaseException:
            self.broken = True
            raise
        finally:
            self.active -= 1
            if not self.active:
                self._idle.set()


class TransactionalSend:
    """One Kafka transaction per worker for everything a batch writes: outputs, dead letters, state
    and the input offsets of every partition.

    faust 0.15 keeps one transactional producer per input partition and routes a record by its
    *destination* partition — and only for topics its consumer has metadata for: a derived topic no
    stage consumes got no transaction at all (at-least-once), and a repartition topic with another
    partition count landed in a transaction committed only with *its* partitions' offsets (it sat
    uncommitted until the broker aborted it). Routing by source partition instead would fix atomicity
    but not order: several producers appending to one partition of a repartition topic interleave at
    random, so the next stage's log order would differ from run to run. As Kafka Streams does since
    ``exactly_once_v2``, the worker sends everything through one of faust's transactional producers (the
    lowest transactional id it owns) and commits all offsets in that producer's transaction
    (:func:`commit_in_one_transaction` replaces faust's per-partition commit). Destination partitions
    use Kafka's murmur2 partitioner on the key, as every Mercado producer does. (Zombie fencing is by transactional id;
    with one worker per pipeline — what is tested — that is all there is.)
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.partitions: dict[str, int] = {}  # physical topic -> partition count (each stage adds its own)
        self.sent = False  # records sent since the last commit

    async def send(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
                   timestamp_s: float | None = None, headers: Any = None) -> None:
        if partition is None:
            partition = partition_of(key.decode(), self.partitions[topic]) if key else 0
        self.sent = True
        await self.app.consumer.transactions.producer.send(
            topic, key, value, partition, timestamp_s, headers, transactional_id=worker_transactional_id(self.app)
        )

    async def commit_leftovers(self) -> None:
        """Commits the worker's transaction when it holds records but faust had no new offsets to commit:
        held messages released by the timer (streams/runtime/align.py) when no input arrived — their outputs and
        the deletion of their held copies — would otherwise stay uncommitted until the broker aborts them.
        (faust keeps one aiokafka producer per transactional id; there is no public way to reach it.)"""
        if not self.sent:
            return
        self.sent = False
        producer = self.app.consumer.transactions.producer
        tid = worker_transactional_id(self.app)
        txn_producer = producer._transaction_producers.get(tid)
        if txn_producer is None:
            return
        async with producer._trn_locks[tid]:
            txn = txn_producer._txn_manager
            if txn is not None and (txn._txn_partitions or txn._pending_txn_partitions):
                await txn_producer.commit_transaction()
                await txn_producer.begin_transaction()


def worker_transactional_id(app: Any) -> str:
    """The transactional id of the worker's one transaction: the lowest of the producers faust opened
    for its assignment (they change only with a rebalance, which commits first)."""
    producers = app.consumer.transactions.producer._transaction_producers
    return min(producers)


def commit_in_one_transaction(app: Any) -> None:
    """Replaces faust's per-partition transaction commit with one commit of all offsets in the worker's
    transaction (see :class:`TransactionalSend`)."""
    transactions = app.consumer.transactions

    async def commit(offsets: Any, start_new_transaction: bool = True) -> bool:
        if not offsets:
            return False
        await transactions.producer.commit_transactions(
            {worker_transactional_id(app): dict(offsets)}, app.conf.id, start_new_transaction=start_new_transaction
        )
        return True

    transactions.commit = commit


def read_changelog_ends_from_the_broker() -> None:
    """Makes faust's table recovery read every changelog partition to the end the broker reports.

    faust 0.15.3 recovers a table by reading its changelog partitions up to their "highwaters"
    (``Recovery._build_highwaters`` -> ``AIOKafkaConsumerThread._highwaters``). With
    ``processing_guarantee="exactly_once"`` these are not looked up but taken from aiokafka's
    ``last_stable_offset(tp)``: the last stable offset carried by the *last fetch response* for the
    partition, ``None`` until the first one after the assignment arrives. Recovery asks ~40 ms after the
    assignment (once the transactional producers have started) while the consumer's thread resets the
    new partitions' positions and fetches on its own (measured here: the fetch response recovery found was
    18-39 ms old). When recovery wins that race, the highwater is ``None`` -> -1: recovery takes the
    partition for empty, marks it recovered without reading a record, and the worker restores that
    partition's keys from nothing while the group's committed offsets are past every event their lost
    state held: a bar open across the restart misses the ticks before it (the rare failure of the
    ``kill -9`` test; delaying the consumer's fetches by 0.5 s at start-up makes it fail at every
    restart). A cached value can also be stale, which ends recovery early the same way. Upstream:
    robinhood/faust#658 (the same cached LSO; with a persistent store it crashes recovery) and the
    symptom of robinhood/faust#340.

    The replacement asks the broker (``ListOffsets`` with the consumer's isolation level — here
    ``read_committed``, so the last stable offset), as faust does without transactions. The rest of
    recovery is unchanged: a partition whose last record is a transaction marker is still finished by
    faust's check of the consumer's position."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    current = AIOKafkaConsumerThread._highwaters
    if getattr(current, "mercado", False):
        return

    async def _highwaters(self: Any, partitions: list) -> Any:
        return await self._ensure_consumer().end_offsets(partitions)

    _highwaters.mercado = True  # type: ignore[attr-defined]
    _highwaters.faust_original = current  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._highwaters = _highwaters


def create_app(settings: Settings, pipeline: str, *, batch_max: int = 2000, batch_within_s: float = 0.05) -> Any:
    """A faust app with one agent (and one state table) per stage of the pipeline."""
    import faust

    from streams.kafka.consumer import default_serde
    from streams.runtime.pipelines import build_stages

    stages = build_stages(pipeline, settings)
    read_changelog_ends_from_the_broker()
    app = faust.App(
        group_id(settings, pipeline),
        broker=f"kafka://{settings.bootstrap()}",
        store="memory://",
        processing_guarantee="exactly_once",
        topic_replication_factor=1,
        topic_partitions=3,
        table_standby_replicas=0,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.worker.commit_interval_s,
        # A revocation first waits until every event the agent took is acknowledged (committing as it
        # goes), and only then do the partitions' runtimes go (forget_revoked). With False, faust did
        # not wait: a rebalance that came while the agent was suspended inside a batch (in a send)
        # dropped the runtimes under it; the rest of the batch ran on state reloaded from the table,
        # the effects of its first events were lost, and its offsets were committed anyway.
        stream_wait_empty=True,
        datadir=str(settings.local.state_dir / "faust"),
        key_serializer="raw",
        value_serializer="raw",
    )
    serde = default_serde(settings)
    app.mercado_gate = CommitGate()
    app.mercado_gate.sender = TransactionalSend(app)
    app.mercado_drivers = {}  # stage name -> driver, for tests
    for i, spec in enumerate(stages):
        # A stage whose outputs feed a later stage (a repartition) or that reads several topics sees its
        # input partitions merged in event-time order, as the replay does: the order it writes is the
        # log order the next stage reads. A last stage with one input needs no more than partition order.
        align = len(spec.inputs) > 1 or i < len(stages) - 1
        app.mercado_drivers[spec.name] = _add_stage(
            app, settings, pipeline, spec, serde, batch_max, batch_within_s, align=align
        )
    return app


def _add_stage(
    app: Any, settings: Settings, pipeline: str, spec: Any, serde: Any, batch_max: int, batch_within_s: float,
    *, align: bool = False,
) -> PipelineDriver:
    from faust.types import TP

    from streams.kafka.catalog import topic

    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(*(settings.topic(t) for t in spec.inputs), **raw)
    output_topics = {name: settings.topic(name) for name in spec.outputs}
    dead_letter_topic = settings.topic(DEAD_LETTER_TOPIC)
    partitions = topic(spec.inputs[0]).partitions  # the table is co-partitioned with the stage's input
    state = app.Table(
        state_table_name(spec.name), partitions=partitions, key_type=bytes, value_type=bytes, use_partitioner=True,
        extra_topic_configs=settings.kafka.changelog_config(),
    )
    changelog = state.changelog_topic
    changelog_name = changelog.get_topic_name()
    gate: CommitGate = app.mercado_gate
    sender = gate.sender
    assert sender is not None
    sender.partitions.update({output_topics[name]: topic(name).partitions for name in spec.outputs})
    sender.partitions[dead_letter_topic] = topic(DEAD_LETTER_TOPIC).partitions

    driver = PipelineDriver(spec, serde, load_partition=lambda partition: saved_keys(state.data, partition))
    physical_inputs = {settings.topic(t) for t in spec.inputs}

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: Any, revoked: Any, **_: Any) -> None:
        # sent after faust's revocation waited for the agent's events (stream_wait_empty): between batches
        mine = sorted(tp.partition for tp in revoked if tp.topic in physical_inputs)
        if mine:  # a warning: the worker logs warnings only, and a rebalance is worth a line in its log
            app.log.warning("stage %s: partitions %s revoked (a rebalance)", spec.name, mine)
        for partition in mine:
            driver.forget_partition(partition)

    group = group_id(settings, pipeline)
    events_in = {t: metrics.EVENTS_IN.labels(settings.topic(t), spec.name) for t in spec.inputs}
    router = Router(settings, spec)
    timed = bool(spec.timed_outputs)
    lag = metrics.PROCESSING_LAG.labels(spec.name)
    aligner = None
    if align:
        aligner = LiveAligner(
            settings, group, state.data,
            lambda: ((tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in physical_inputs),
        )

    async def write_state(writes: list[StateWrite]) -> None:
        for key, value, partition in writes:
            await sender.send(changelog_name, key, value, partition=partition)

    @app.agent(source, name=f"mercado-{spec.name}")
    async def run(stream: Any) -> None:
        gate.install(app.consumer)
        async for events in stream.take_events(batch_max, within=batch_within_s):
            async with gate.batch():
                messages = [event.message for event in events]
                # another pipeline's tasks' watermarks (native engine): no event, and this engine does not use them
                data = [m for m in messages if m.value is not None or not _writer_marker(m.headers)]
                if aligner is None:
                    await handle(data)
                else:
                    await handle(aligner.arrived(_held(msg) for msg in data))
                    await write_state(aligner.save())
                observe_batch(((m.topic, m.partition, m.offset, m.timestamp, is_marker(m.value, m.headers))
                               for m in messages), events_in, lag,
                              group, lambda t, p: app.consumer.highwater(TP(t, p)))

    if aligner is not None:

        @app.timer(interval=0.25)
        async def release_held() -> None:
            """Held messages also go when no new message arrives (a partition caught up or went idle)."""
            if not aligner.aligner.held_count:
                return
            async with gate.batch():
                await handle(aligner.arrived([]))
                await write_state(aligner.save())

    async def handle(messages: list) -> None:
        for msg in messages:
            started = time.perf_counter_ns() if timed else 0
            result = driver.process(msg.topic, msg.partition, msg.offset, msg.value, msg.headers)
            took = time.perf_counter_ns() - started if timed else None
            for r in router.route(result, msg.key, msg.value, msg.headers, took) if result else ():
                if r.headers is None:
                    await sender.send(r.topic, r.key, r.value, timestamp_s=r.timestamp_ms / 1000)
                elif took is not None and r.headers[0][0] == PROCESSING_HEADER:  # a timed output keeps its time
                    await sender.send(r.topic, r.key, r.value, timestamp_s=r.timestamp_ms / 1000, headers=r.headers)
                else:
                    await sender.send(r.topic, r.key, r.value, headers=r.headers)
        # The batch's state goes into the same transaction as its outputs, before its offsets are
        # acknowledged. (``table[key] = v`` would queue the changelog write with send_soon, which
        # faust may publish after the commit that covers the batch: a kill in between loses state.)
        await write_state(state_writes(driver, state.data))

    return driver


def _writer_marker(headers: Any) -> bool:
    from streams.kafka.headers import WRITER_WATERMARK_HEADER

    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    return any(name == WRITER_WATERMARK_HEADER for name, _ in pairs)


def _held(msg: Any) -> Held:
    """A faust message as the aligner holds it (faust gives the Kafka timestamp in seconds, a float;
    the replay merges on the integer ms)."""
    headers = msg.headers or ()
    if isinstance(headers, dict):
        headers = headers.items()
    return Held(msg.topic, msg.partition, msg.offset, round(msg.timestamp * 1000), msg.key, msg.value,
                tuple(headers))


def run_worker(settings: Settings, pipeline: str, loglevel: str = "warn") -> None:
    """Runs until SIGTERM / Ctrl-C (faust's worker handles both gracefully); serves metrics."""
    import faust

    metrics.serve_metrics("worker", settings)
    app = create_app(settings, pipeline)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
