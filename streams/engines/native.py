"""``mercado worker --engine native``: the live runtime as one confluent-kafka (librdkafka) loop.

The same contracts as the faust engine (``streams/engines/faust_engine.py``), on the same topics, consumer group and
state changelogs, and the same :class:`~streams.runtime.driver.PipelineDriver` the replay uses (so live ==
replay by construction):

* One consumer (group ``<prefix>mercado-<pipeline>``, read_committed) subscribes to the inputs of every
  stage of the pipeline and fetches in batches of up to ``batch_max`` messages: what librdkafka has
  already prefetched, never waiting to fill a batch. A stage's messages are decoded together
  (``AvroSerde.decode_many``) and fed in partition order to its driver.
* Exactly-once, as Kafka Streams' ``exactly_once_v2``: one transactional producer per worker
  (``transactional.id`` = ``<group>.<worker_id>``) writes a batch's outputs, dead letters and state,
  and commits the input offsets in the same transaction (``send_offsets_to_transaction``), every
  ``worker_commit_interval_s`` — or, at the live edge (the last fetch took all the broker had) once the
  transaction holds outputs, ``worker_live_commit_interval_s`` (5 ms) after its first output, so
  outputs are visible to read_committed consumers within milliseconds (a burst of them, the bars of
  every symbol at a boundary, in one commit) while a backlog still goes in few, large transactions and
  ticks that produce nothing are not committed more often than needed. A key's state is written once
  per transaction, however many batches touched it. A commit runs in a thread while the worker goes on
  processing; what it produces meanwhile is held and goes into the next transaction. A worker killed at
  any instant resumes from a state and offsets that match: the restarted worker's ``init_transactions``
  aborts what the dead one left open, and its static group membership (``group.instance.id``) takes its
  partitions back without waiting for the session to time out.
* State: the stage's changelog topic (``streams/engines/live.py``). When partitions are assigned, their
  changelog partitions are read to the end (read_committed) before any of their messages is
  processed; the driver restores a partition's keys when its first message arrives.
* Scale-out (docs/architecture.md): the first stage processes each source partition on its own and stamps
  what it writes to a repartition topic with its position, writing progress markers; the stage reading
  that topic releases it in position order (``streams/runtime/ordered.py``), whichever worker wrote it
  and whenever — so any number of workers gives the replay's outputs. Held records are state.
* Undecodable input goes to the dead-letter topic, never stops the worker.
* Crash-only on failures: librdkafka reconnects to a broker that comes back, but a transaction that
  cannot commit (the broker away for longer than the call's timeout, the transaction aborted or the
  producer fenced) or partitions lost to a session timeout end the process with exit code 1 and a
  clear message. Run the worker under a supervisor (systemd, Kubernetes) that restarts it: the
  restarted worker resumes exactly from the last commit (tested with ``kill -9`` and a broker
  restart). Kafka Streams recovers from these in-process; that is not built here yet.

Why not faust here: faust's per-message path (aiokafka fetch in a second event loop, a queue hand-off,
an event object and an asyncio future per message) caps a no-op agent at ~6,500 messages/s on one core
of this machine, ~8x below librdkafka's loop (``BENCHMARKS.md``, marketdata_live). No stream library
offers the contracts above on confluent-kafka without its own per-message machinery, so the loop is
hand-written; it is small because the driver and the aligner carry the logic.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import orjson
import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from processors.ordering import SourceWatermarks, WriterWatermarks
from streams.config import Settings
from streams.engines.live import (
    LiveAligner,
    Produce,
    Router,
    StateWrite,
    changelog_topic,
    commit_metadata,
    group_id,
    observe_batch,
    saved_keys,
    state_writes,
)
from streams.kafka.catalog import DEAD_LETTER_TOPIC, TopicSpec, topic
from streams.kafka.clients import (
    admin_config,
    committed_reader_config,
    consumer_config,
    end_reader_config,
    producer_config,
)
from streams.kafka.consumer import default_serde, fetch_ready, watermarks
from streams.kafka.headers import (
    is_marker,
    read_watermark,
    read_writer_watermark,
    watermark_strict,
    writer_watermark_header,
)
from streams.observability import metrics
from streams.runtime.align import Held, merge_keyer
from streams.runtime.driver import PipelineDriver
from streams.runtime.heap import freeze_heap
from streams.runtime.ordered import (
    LiveOrderedMerge,
    Ordered,
    bound_header,
    position_header,
    progress_header,
    saved_sources,
    saved_writers,
    source_state,
    source_state_key,
    writer_header,
)
from streams.runtime.pipelines import ANNOUNCED, build_stages

log = structlog.get_logger("mercado.worker")

_EOF = KafkaError._PARTITION_EOF
RESTORE_TIMEOUT_S = 300.0
COMMIT_TIMEOUT_S = 30.0  # per transactional call
HELD_MAX = 100_000  # records produced during a commit, held for the next transaction


class WorkerFailed(RuntimeError):
    """The worker cannot go on without a restart (its last commit stays the resume point)."""


class _Stage:
    """One stage of the pipeline: its driver, its state table (this worker's partitions of the
    changelog) and its ordering role (``streams/runtime/ordered.py``): a stage that writes a repartition
    topic stamps each record with its position and writes progress markers (``ordered_outputs``,
    ``watermarks``); the stage that reads it releases its records in position order (``merge``). A stage
    with neither role that reads several topics merges them with an event-time aligner."""

    def __init__(self, worker: NativeWorker, spec: Any, align: bool, ordered_outputs: set[str]) -> None:
        s = worker.settings
        self.spec = spec
        self.inputs = {s.topic(t) for t in spec.inputs}
        self.partitions = topic(spec.inputs[0]).partitions  # the changelog is co-partitioned with the input
        self.ordered_outputs = ordered_outputs  # physical repartition topics this stage writes with positions
        self.watermarks = SourceWatermarks()
        self.writers = WriterWatermarks()  # what another pipeline's tasks announced on the sources they write
        # topics it writes that another pipeline reads with its tasks' watermarks (a stage reading an ordered
        # topic: streams/runtime/pipelines.py ANNOUNCED), and the last T announced per input partition
        self.announces: list[str] = []
        self.announced: dict[int, int] = {}
        self.strict_inputs: set[str] = set()  # announced topics it reads: strict from the start
        self.source_next: dict[tuple[str, int], int] = {}  # next offset to process, per source partition
        self.marked: dict[tuple[str, int], tuple[int | None, int, bool]] = {}  # last marker written per source
        self.bounds_marked: dict[int, tuple[Any, bool, Any]] = {}  # a later stage's: last marker per input
        self.merge: LiveOrderedMerge | None = None  # set by the worker's start (it needs the sources' partitions)
        self.changelog = changelog_topic(s, worker.pipeline, spec.name)
        self.table: dict[bytes, bytes] = {}
        self.driver = PipelineDriver(spec, worker.serde, load_partition=lambda p: saved_keys(self.table, p))
        self.aligner: LiveAligner | None = None
        if align:
            self.aligner = LiveAligner(
                s, worker.group, self.table, lambda: [tp for tp in worker.assigned if tp[0] in self.inputs],
                restore_lazily=False,
            )
        self.events_in = {t: metrics.EVENTS_IN.labels(s.topic(t), spec.name) for t in spec.inputs}
        self.router = Router(s, spec)
        self.lag = metrics.PROCESSING_LAG.labels(spec.name)

    def forget(self, partitions: set[int]) -> None:
        """Revoked partitions: their state is the next owner's."""
        for p in partitions:
            self.driver.forget_partition(p)
        for key, value in list(self.table.items()):
            if orjson.loads(value).get("partition") in partitions:
                del self.table[key]
        if self.aligner is not None:
            self.aligner.forget(partitions)
            self.aligner.aligner.assign(self.aligner.assignment())  # drops what it holds of them
        if self.merge is not None:
            self.merge.forget(partitions)
        for tp in [tp for tp in self.source_next if tp[1] in partitions]:
            del self.source_next[tp]
        for tp in [tp for tp in self.marked if tp[1] in partitions]:
            del self.marked[tp]
        for q in partitions:
            self.bounds_marked.pop(q, None)
        for tp in [tp for tp in self.watermarks.of if tp[1] in partitions]:
            del self.watermarks.of[tp]
        self.watermarks.strict = {tp for tp in self.watermarks.strict if tp[1] not in partitions}
        self.writers.forget(lambda tp: tp[1] not in partitions)
        for q in partitions:
            self.announced.pop(q, None)


class NativeWorker:
    def __init__(self, settings: Settings, pipeline: str, *, batch_max: int = 2000, idle_poll_s: float = 0.05):
        self.settings = settings
        self.pipeline = pipeline
        self.group = group_id(settings, pipeline)
        self.serde = default_serde(settings)
        self.batch_max = batch_max
        self.idle_poll_s = idle_poll_s
        self.commit_interval_s = settings.worker.commit_interval_s
        self.live_commit_interval_s = min(settings.worker.live_commit_interval_s, self.commit_interval_s)
        self.caught_up = True  # the last fetch took less than a full batch: commit at the live-edge interval
        stages = build_stages(pipeline, settings)
        # Scale-out (docs/architecture.md): the first stage processes each source partition on its own and
        # stamps what it writes to a repartition topic with its position; the stage reading that topic
        # releases it in position order, whoever wrote it. A later stage reads its input in log order.
        # A stage that reads an ordered repartition topic and writes another one stamps its outputs too (their
        # position extends the position of the record that caused them) and announces its progress.
        internal = {t for spec in stages for t in spec.outputs} & {t for spec in stages for t in spec.inputs}
        ordering = {t for t in stages[0].outputs if t in internal} if not internal & set(stages[0].inputs) else set()
        merging = [False] * len(stages)
        stamped: list[set[str]] = [set(ordering)] + [set() for _ in stages[1:]]
        for i, spec in enumerate(stages[1:], start=1):
            if spec.inputs and set(spec.inputs) <= ordering:
                merging[i] = True
                stamped[i] = {t for t in spec.outputs if t in internal}
                ordering |= stamped[i]
        self.writer_of = {t: i for i, spec in enumerate(stages) for t in stamped[i]}
        self.stages = [
            _Stage(self, spec, align=len(spec.inputs) > 1 and not (i == 0 and ordering) and not merging[i],
                   ordered_outputs={settings.topic(t) for t in stamped[i]})
            for i, spec in enumerate(stages)
        ]
        self.merging = [st for st, m in zip(self.stages, merging, strict=True) if m]
        for st in self.merging:
            st.announces = sorted(settings.topic(t) for t in st.spec.outputs if t in ANNOUNCED)
        # a first stage reading an announced topic holds it strictly from its first record on (its writers'
        # markers follow their records: before the first one, a caught-up partition must not be passed)
        self.stages[0].strict_inputs = {settings.topic(t) for t in stages[0].inputs if t in ANNOUNCED}
        self._lookup: Any = None  # a consumer for offset lookups (never subscribed)
        self._ends: dict[tuple[str, int], tuple[int, float]] = {}
        self._fresh_ends: dict[tuple[str, int], tuple[int, float]] = {}  # for _at_end
        self._marked_at = 0.0
        self.members: set[str] | None = None  # the group's static members at the last rebalance
        self._merge_key = merge_keyer(settings.admission)
        self.by_topic = {t: st for st in self.stages for t in st.inputs}
        self.assigned: set[tuple[str, int]] = set()
        self.offsets: dict[tuple[str, int], int] = {}  # next offset per input partition, since the last commit
        self.dirty = False  # records produced since the last commit
        # when the open transaction got its first output or dead letter (None: only state and offsets so far)
        self.outputs_since: float | None = None
        self.stopping = False
        self.lost = False
        self.last_commit = time.monotonic()
        self.commits = 0
        self.consumer: Any = None
        self._error_logged: dict[int, float] = {}
        self.stuck = False  # failed: leave without committing or closing the clients
        self.inflight: _Commit | None = None  # the commit running in its thread
        self.held: list[tuple[str, bytes | None, bytes | None, dict[str, Any]]] = []  # for the next transaction
        self.producer: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        from streams.kafka.admin import ensure_topics

        s = self.settings
        logical = {name for st in self.stages for name in (*st.spec.inputs, *st.spec.outputs)} | {DEAD_LETTER_TOPIC}
        ensure_topics(s, tuple(topic(name) for name in sorted(logical)))
        # The topics as they are (an input may have more partitions than the catalog's default): the
        # changelog has as many partitions as the stage's inputs, and the ordered merge knows every source.
        counts = self._partition_counts({s.topic(name) for name in logical})
        for st in self.stages:
            st.partitions = max(counts[t] for t in st.inputs)
        changelogs = tuple(
            TopicSpec(st.changelog.removeprefix(s.kafka.topic_prefix), (), (), f"state of {st.spec.name}",
                      partitions=st.partitions, cleanup_policy="compact",
                      extra_config=s.kafka.changelog_config())
            for st in self.stages
        )
        ensure_topics(s, changelogs)
        self.marker_partitions = {t: counts[t] for st in self.stages for t in (*st.ordered_outputs, *st.announces)}
        for st in self.merging:  # the tasks that write its input: the writing stage's input partitions
            writer = self.stages[self.writer_of[st.spec.inputs[0]]]
            st.merge = LiveOrderedMerge(st.table, [(t, p) for t in sorted(writer.inputs) for p in range(counts[t])],
                                        idle_s=s.worker.merge_idle_ms / 1000 if s.worker.merge_idle_ms >= 0 else -1)
        member = f"{self.group}.{s.worker.id}"
        try:
            self._new_producer()
        except KafkaException as exc:
            raise WorkerFailed(f"could not start the transactional producer: {exc.args[0].str()}") from exc
        self.consumer = Consumer(consumer_config(
            s, self.group, **{"group.instance.id": member, "enable.partition.eof": False,
                              "session.timeout.ms": s.worker.session_timeout_ms,
                              "heartbeat.interval.ms": s.worker.heartbeat_interval_ms}
        ))
        self.consumer.subscribe(sorted(self.by_topic), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        self.last_commit = time.monotonic()
        # Everything loaded so far (modules, calendars, schemas: ~10^5 objects) lives as long as the process;
        # frozen, it is no longer traversed by the cyclic GC, whose full collections otherwise stop the worker
        # for ~30 ms (seen as a latency spike in bench.marketdata_live).
        freeze_heap(collect=False)

    def _partition_counts(self, topics: set[str]) -> dict[str, int]:
        md = self._lookup_consumer().list_topics(timeout=30)
        counts = {}
        for name in topics:
            meta = md.topics.get(name)
            if meta is None or meta.error is not None or not meta.partitions:
                raise WorkerFailed(f"topic {name} has no partitions in the cluster's metadata")
            counts[name] = len(meta.partitions)
        return counts

    def _lookup_consumer(self) -> Any:
        if self._lookup is None:
            # read_uncommitted: committed() of a read_committed consumer waits while the group has offsets in an
            # open transaction (streams/kafka/clients.py committed_reader_config); both give the last committed ones
            self._lookup = Consumer(committed_reader_config(self.settings, self.group))
        return self._lookup

    def _new_producer(self) -> None:
        """The worker's transactional producer; ``init_transactions`` aborts what an earlier producer of
        this id (a killed worker, or this worker's own fenced one) left open."""
        member = f"{self.group}.{self.settings.worker.id}"
        # linger 1 ms: a commit's records (outputs, then state) are on the wire while the offsets' round
        # trips run, so the commit's flush has little left to wait for
        # delivery reports only for failures: a delivery report is served in Python (it takes the GIL), and
        # the commit's flush, in its thread, would otherwise wait for this thread to hand over the GIL for
        # every report of the transaction; a failed record fails the commit anyway.
        # retry.backoff.ms 5: a transaction that begins right after the last one committed (the next one
        # often does) finds the coordinator still writing the last one's markers and its AddOffsetsToTxn /
        # AddPartitionsToTxn get CONCURRENT_TRANSACTIONS; with librdkafka's default backoff that retry waits
        # 100 ms (measured here: send_offsets_to_transaction 105-130 ms). The Java client retries these after
        # 20 ms for the same reason (KAFKA-5477).
        self.producer = Producer(producer_config(self.settings, **{
            "transactional.id": member, "linger.ms": 1, "delivery.report.only.error": True, "retry.backoff.ms": 5,
            "transaction.timeout.ms": self.settings.worker.transaction_timeout_ms,
        }))
        self.producer.init_transactions(60)
        self.producer.begin_transaction()

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def close(self) -> None:
        """Commits what was processed and leaves (static membership: the partitions wait for this
        worker's restart until the session times out)."""
        for st in self.merging:
            if st.merge is not None:
                log.info("ordered merge", stage=st.spec.name, passed_caught_up=st.merge.passed,
                         waited_s=round(st.merge.waited_s, 3), idle_s=st.merge.idle_s)
        if self.consumer is not None:
            if not self.lost:
                self.commit()
            self.consumer.close()
            self.consumer = None
        if self._lookup is not None:
            self._lookup.close()
            self._lookup = None

    def run(self) -> None:
        """Runs until :meth:`stop` (SIGTERM, Ctrl-C)."""
        self.start()
        try:
            while not self.stopping:
                self.step()
        except WorkerFailed:
            self.stuck = True  # no last commit: its transaction is aborted when a worker of this id starts
            raise
        finally:
            if not self.stuck:
                self.close()

    def step(self) -> None:
        """One fetch, its processing, and the transaction's commit when it is due."""
        messages = self.fetch()
        if self.lost:
            raise WorkerFailed("the consumer lost its partitions (its group session timed out, e.g. the broker was "
                               "away too long); restart the worker: it resumes from the last commit")
        self.caught_up = len(messages) < self.batch_max
        if messages:
            self.process(messages)
        else:
            self.release_held()
        self.mark_sources()
        if self.inflight is not None:
            self._finish_commit(wait=False)
        if self.inflight is None and (self.dirty or self.offsets) and time.monotonic() >= self.commit_due_at():
            self.start_commit()

    def commit_due_at(self) -> float:
        """When the open transaction is due (``time.monotonic()``). At the live edge, one that holds outputs
        commits ``live_commit_interval_s`` after its first output, so read_committed consumers see them
        within milliseconds; the short wait lets the outputs that come in a burst (the bars of every
        symbol close at the same boundary, their closing ticks arrive over a few milliseconds) share one
        commit instead of the later ones waiting for the first one's commit and then their own. Otherwise
        (a backlog, or only offsets and state) every ``commit_interval_s``: each commit stops processing
        for a few milliseconds (the produce acks, the offsets' and the transaction's round trips), so
        committing more often than needed delays the next ticks."""
        due = self.last_commit + self.commit_interval_s
        if self.caught_up and self.outputs_since is not None:
            return min(due, self.outputs_since + self.live_commit_interval_s)
        return due

    # ------------------------------------------------------------------ rebalances
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._fence_departed()
        new = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned |= new
        for st in self.stages:
            parts = {p for t, p in new if t in st.inputs}
            if parts:
                self._restore(st, parts)
        log.info("partitions assigned", partitions=len(new), assigned=sorted(f"{t}:{p}" for t, p in self.assigned))

    def _fence_departed(self) -> None:
        """Aborts, at once, the open transaction of every worker that left the group since the last rebalance
        (killed, or evicted after its session timed out): a producer with its transactional id (= its
        static member id) initializes, which fences it and makes the coordinator abort what it left open.
        Until then this worker could not read the group's offsets of the partitions it takes over, and no
        read_committed reader would see outputs past that transaction — for up to transaction_timeout_ms
        plus the broker's abort check interval. A worker that stopped cleanly has nothing open; one that
        is merely late (evicted) has lost its partitions anyway and ends at its next commit."""
        from confluent_kafka.admin import AdminClient

        own = f"{self.group}.{self.settings.worker.id}"
        try:
            admin = AdminClient(admin_config(self.settings))
            [future] = admin.describe_consumer_groups([self.group], request_timeout=5).values()
            current = {m.group_instance_id for m in future.result(timeout=10).members if m.group_instance_id}
        except Exception as exc:  # noqa: BLE001 - the transactions time out on their own
            log.warning("could not list the group's members", error=str(exc))
            return
        departed = sorted((self.members or set()) - current - {own})
        self.members = current
        for member in departed:
            try:
                Producer(producer_config(self.settings, **{"transactional.id": member})).init_transactions(10)
                log.info("fenced a departed worker", transactional_id=member)
            except KafkaException as exc:
                log.warning("could not fence a departed worker", transactional_id=member, error=exc.args[0].str())

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        if not self.lost:
            self.commit()  # what was processed goes with its offsets before another worker takes over
        self._forget({(tp.topic, tp.partition) for tp in partitions})

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # The session timed out: the open transaction holds work whose offsets this member can no longer
        # commit, and the in-memory state reflects it. step() ends the worker; a restart resumes from the
        # last commit. (Kafka Streams recovers in-process instead; not done here yet.)
        self.lost = True
        self._forget({(tp.topic, tp.partition) for tp in partitions})

    def _forget(self, gone: set[tuple[str, int]]) -> None:
        self.assigned -= gone
        for st in self.stages:
            parts = {p for t, p in gone if t in st.inputs}
            if parts:
                st.forget(parts)
        for tp in gone:
            self.offsets.pop(tp, None)

    def _restore(self, st: _Stage, parts: set[int]) -> None:
        """Reads the stage's changelog partitions to their end (committed records only) into its table."""
        reader = Consumer(end_reader_config(self.settings, f"{self.group}.restore"))  # the end known at once
        started = time.monotonic()
        try:
            # an empty changelog partition has nothing to wait for (a new stage, or a stateless one)
            remaining = set()
            for p in parts:
                # (a changelog another worker has just created may not be known here yet: waited out)
                low, high = watermarks(reader, TopicPartition(st.changelog, p), timeout=10)
                if high > low:
                    remaining.add(p)
            reader.assign([TopicPartition(st.changelog, p, OFFSET_BEGINNING) for p in sorted(remaining)])
            deadline = started + RESTORE_TIMEOUT_S
            restored = read_bytes = 0
            while remaining:
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"restoring {st.changelog} {sorted(remaining)} took over {RESTORE_TIMEOUT_S} s")
                for msg in fetch_ready(reader, 1000, 0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == _EOF:
                            remaining.discard(msg.partition())
                            continue
                        raise WorkerFailed(f"restoring {st.changelog}: {err.str()}")
                    value = msg.value()
                    read_bytes += len(msg.key() or b"") + len(value or b"")
                    if value is None:
                        st.table.pop(msg.key(), None)
                    else:
                        st.table[msg.key()] = value
                    restored += 1
        finally:
            reader.close()
        if st.aligner is not None:
            st.aligner.restore(parts)
        if st.merge is not None:
            st.merge.assign(parts)
        if st.ordered_outputs:
            for tp, (w, strict) in saved_sources(st.table, parts).items():
                st.watermarks.of[tp] = w
                if strict:
                    st.watermarks.strict.add(tp)
            for tp, writers in saved_writers(st.table, parts).items():
                st.writers.restore(*tp, writers)
        log.info("state restored", stage=st.spec.name, partitions=sorted(parts), records=restored,
                 bytes=read_bytes, keys=len(st.table), seconds=round(time.monotonic() - started, 3))

    # ------------------------------------------------------------------ processing
    def fetch(self) -> list[Any]:
        """What librdkafka has prefetched (up to ``batch_max``), else the first message within the idle
        wait (never beyond the next commit) and whatever came with it."""
        messages = self.consumer.consume(self.batch_max, 0)
        if messages:
            return messages
        wait = self.idle_poll_s
        if self.inflight is not None:
            wait = min(wait, 0.001)  # a commit in flight: look again soon whether it is done
        elif self.dirty or self.offsets:
            wait = max(0.0, min(wait, self.commit_due_at() - time.monotonic()))
        first = self.consumer.poll(wait)
        if first is None:
            return []
        return [first, *self.consumer.consume(self.batch_max - 1, 0)]

    def process(self, messages: list[Any]) -> None:
        by_stage: dict[_Stage, list[Any]] = {}
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise WorkerFailed(f"consumer: {err.str()}")
                if err.code() != _EOF:
                    self._consumer_error(err)
                continue
            st = self.by_topic[msg.topic()]
            batch = by_stage.get(st)
            if batch is None:
                by_stage[st] = [msg]
            else:
                batch.append(msg)
        offsets = self.offsets
        for st, batch in by_stage.items():
            for msg in batch:
                offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            if st.merge is not None:
                self._run_merged(st, batch)
            elif st.aligner is None:
                self._run(st, batch)
            else:
                helds = [Held(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                              tuple(m.headers() or ())) for m in batch]
                self._run_held(st, st.aligner.arrived(helds))
            observe_batch(((m.topic(), m.partition(), m.offset(), m.timestamp()[1] / 1000,
                            is_marker(m.value(), m.headers())) for m in batch),
                          st.events_in, st.lag, self.group, self._highwater)
        self.producer.poll(0)

    def _consumer_error(self, err: Any) -> None:
        """Logs a consumer error once per code and minute (librdkafka retries them; while a broker is away
        they would come every fetch)."""
        now = time.monotonic()
        if now - self._error_logged.get(err.code(), -1e9) >= 60:
            self._error_logged[err.code()] = now
            log.warning("consumer error (retried)", error=err.str())

    def release_held(self) -> None:
        """Held messages also go when nothing arrives (a partition caught up or went idle)."""
        for st in self.stages:
            if st.aligner is not None and st.aligner.aligner.held_count:
                released = st.aligner.arrived([])
                if released:
                    self.dirty = True  # their state changes are due at the next commit, outputs or not
                    self._run_held(st, released)
            if st.merge is not None and st.merge.merge.held:  # waiting for a caught-up writer (idle_s)
                ordered = st.merge.release(time.monotonic(), self._at_end)
                if ordered:
                    self.dirty = True
                    self._run_ordered(st, next(iter(st.inputs)), ordered)

    def _run(self, st: _Stage, batch: list[Any]) -> None:
        """A batch of one stage's messages, decoded together. A stage that writes a repartition topic stamps
        those records with their position (``streams/runtime/ordered.py``)."""
        driver, route = st.driver, st.router.route
        decoded = self.serde.decode_many([m.value() for m in batch])
        ordered = st.ordered_outputs
        timed, took = bool(st.spec.timed_outputs), None
        if ordered:
            advance, source_next, merge_key = st.watermarks.advance, st.source_next, self._merge_key
        for msg, item in zip(batch, decoded, strict=True):
            topic_name, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if msg.value() is None and read_watermark(None, msg.headers()) is not None:
                # a producer's watermark marker: no event; the source watermark takes T + 1 (merge_key gives
                # it, as the replay's merge does); a producer that keeps announcing makes the source strict
                if ordered:
                    advance(topic_name, partition, merge_key(msg.timestamp()[1], msg.headers()))
                    source_next[(topic_name, partition)] = offset + 1
                    if watermark_strict(msg.headers()):
                        st.watermarks.strict.add((topic_name, partition))
                continue
            if msg.value() is None and (announced := read_writer_watermark(None, msg.headers())) is not None:
                # another pipeline's task announced its watermark: the source's is the min over its writers
                # (as the replay's merge computes it), and the source is strict (they keep announcing)
                if ordered:
                    t = st.writers.combine(topic_name, partition, *announced)
                    if t is not None:
                        advance(topic_name, partition, t + 1)
                    source_next[(topic_name, partition)] = offset + 1
                    st.watermarks.strict.add((topic_name, partition))
                continue
            if ordered:
                w = advance(topic_name, partition, merge_key(msg.timestamp()[1], msg.headers()))
                source_next[(topic_name, partition)] = offset + 1
            if timed:
                started = time.perf_counter_ns()
                result = driver.process_decoded(topic_name, partition, offset, item, msg.headers())
                took = time.perf_counter_ns() - started
            else:
                result = driver.process_decoded(topic_name, partition, offset, item, msg.headers())
            if result:
                records = route(result, msg.key(), msg.value(), msg.headers(), took)
                if ordered:
                    n = 0
                    for i, r in enumerate(records):
                        if r.topic in ordered:
                            records[i] = r._replace(headers=[position_header((w, partition, topic_name, offset, n))])
                            n += 1
                self._send(records)

    def _run_merged(self, st: _Stage, batch: list[Any]) -> None:
        """A batch of a repartition topic read in position order: markers and records go to the merge, what
        it releases is processed (records without a position, at once)."""
        merge = st.merge
        assert merge is not None
        for msg in batch:
            now = merge.arrived(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.timestamp()[1],
                                msg.headers())
            if now:
                self._run_ordered(st, msg.topic(), [(None, item) for item in now])
        released = merge.release(time.monotonic(), self._at_end)
        if released:
            self._run_ordered(st, next(iter(st.inputs)), released)

    def _run_ordered(self, st: _Stage, topic_name: str, items: list[tuple[Any, Ordered]]) -> None:
        driver, route, ordered = st.driver, st.router.route, st.ordered_outputs
        timed, took = bool(st.spec.timed_outputs), None
        for pos, item in items:
            # offset -1: released out of log order, so not the driver's offset bookkeeping (the merge drops
            # re-deliveries by position)
            if timed:  # (e.g. a recommendations shard's JobRun: the run's processing time)
                started = time.perf_counter_ns()
                result = driver.process(topic_name, item.partition, -1, item.value, None)
                took = time.perf_counter_ns() - started
            else:
                result = driver.process(topic_name, item.partition, -1, item.value, None)
            if result:
                records = route(result, item.key, item.value, None, took)
                if ordered and pos is not None:  # a later repartition: positions extend this record's
                    n = 0
                    writer = writer_header(topic_name, item.partition)
                    for i, r in enumerate(records):
                        if r.topic in ordered:
                            records[i] = r._replace(headers=[position_header((*pos, n)), writer])
                            n += 1
                self._send(records)

    def _run_held(self, st: _Stage, released: Iterable[Held]) -> None:
        driver, route = st.driver, st.router.route
        for held in released:
            result = driver.process(held.topic, held.partition, held.offset, held.value, held.headers)
            if result:
                self._send(route(result, held.key, held.value, list(held.headers)))

    def _send(self, records: list[Produce]) -> None:
        produce = self._produce
        if self.outputs_since is None:
            self.outputs_since = time.monotonic()
        for r in records:
            if r.headers is None:
                produce(r.topic, r.value, r.key, timestamp=r.timestamp_ms)
            elif r.timestamp_ms is None:
                produce(r.topic, r.value, r.key, headers=r.headers)
            else:
                produce(r.topic, r.value, r.key, timestamp=r.timestamp_ms, headers=r.headers)

    def _write_state(self, st: _Stage, writes: list[StateWrite]) -> None:
        for key, value, partition in writes:
            self._produce(st.changelog, value, key, partition=partition)

    def _produce(self, topic_name: str, value: bytes | None, key: bytes | None, **kwargs: Any) -> None:
        self.dirty = True
        if self.inflight is not None:  # the transaction is committing: this goes into the next one
            self.held.append((topic_name, value, key, kwargs))
            if len(self.held) >= HELD_MAX:  # bounded memory: wait for the commit, then produce them
                self._finish_commit(wait=True)
            return
        try:
            self.producer.produce(topic_name, value, key, **kwargs)
        except BufferError:  # the local queue is full: let librdkafka send, then try once more
            self.producer.flush(30)
            self.producer.produce(topic_name, value, key, **kwargs)

    def _highwater(self, topic_name: str, partition: int) -> int | None:
        try:
            return self.consumer.get_watermark_offsets(TopicPartition(topic_name, partition), cached=True)[1]
        except KafkaException:
            return None

    # ------------------------------------------------------------------ transactions
    def commit(self) -> None:
        """Commits everything processed so far and returns once it is committed (a rebalance, closing)."""
        self._finish_commit(wait=True)
        self.start_commit()
        self._finish_commit(wait=True)

    def start_commit(self) -> None:
        """Starts committing the open transaction: the outputs since the last commit, the state of every key
        they changed (one snapshot per key and commit, however many batches touched it; the held messages'
        changes netted the same way) and the input offsets, visible together.

        The snapshot is taken and produced here, in this thread, at the same point as the offsets: the state
        and the offsets of a transaction match. The rest runs in a thread (:class:`_Commit`): the offsets
        (AddOffsetsToTxn, TxnOffsetCommit) start at once, before the snapshot, and the commit itself (the
        records' acks, EndTxn) once the state is produced. Meanwhile this thread goes on fetching and
        processing: what that produces is held (:meth:`_produce`) and goes into the next transaction, which
        begins when this one is committed (:meth:`_finish_commit`). A tick that arrives during a commit is
        processed at once instead of waiting for the broker's round trips.
        """
        started = time.monotonic()
        offsets, self.offsets = self.offsets, {}
        commit = _Commit(self.producer, offsets, self.consumer.consumer_group_metadata(), started) if offsets else None
        try:
            for st in self.stages:
                if st.ordered_outputs:
                    self._write_markers(st)
                    self._write_state(st, self._watermark_writes(st))
                if st.announces:
                    self._announce(st)
                if st.aligner is not None:
                    self._write_state(st, st.aligner.save())
                if st.merge is not None:
                    self._write_state(st, st.merge.save())
                self._write_state(st, state_writes(st.driver, st.table))
        except BaseException:
            if commit is not None:
                commit.cancel()
            self.offsets = {**offsets, **self.offsets}
            raise
        if commit is None:
            if not self.dirty:
                self.last_commit = time.monotonic()
                return
            commit = _Commit(self.producer, {}, None, started)
        commit.state_written.set()
        self.inflight = commit
        self.dirty = False
        self.outputs_since = None

    # ------------------------------------------------------------------ ordering (streams/runtime/ordered.py)
    def _watermark_writes(self, st: _Stage) -> list[StateWrite]:
        writes = []
        strict = st.watermarks.strict
        for (topic_name, partition), w in st.watermarks.of.items():
            key = source_state_key(topic_name, partition)
            value = source_state(w, partition, (topic_name, partition) in strict,
                                 st.writers.snapshot(topic_name, partition))
            if st.table.get(key) != value:
                st.table[key] = value
                writes.append((key, value, partition))
        return writes

    def _announce(self, st: _Stage) -> None:
        """Each task's watermark (:meth:`~processors.ordering.OrderedMerge.watermark`), when it moved, to every
        partition of the topics it writes that another pipeline reads (docs/architecture.md, "Watermarks in
        the log"), in the transaction of the outputs it follows. The writer is the task (its input
        partition) of the stage's task count: the reader takes the min over all of them."""
        assert st.merge is not None
        passable = st.merge.passable(self._at_end) if st.merge.idle_s >= 0 else (lambda s: False)
        for topic_name, q in sorted(tp for tp in self.assigned if tp[0] in st.inputs):
            t = st.merge.merge.watermark(q, passable)
            if t is None or t <= st.announced.get(q, t - 1):
                continue
            st.announced[q] = t
            header = [writer_watermark_header(topic_name, q, st.partitions, t)]
            for out in st.announces:
                for p in range(self.marker_partitions[out]):
                    self._produce(out, None, None, partition=p, timestamp=max(t, 0), headers=header)

    def _write_bounds(self, st: _Stage) -> None:
        """A later stage's progress markers: per input partition it owns, the bound of what it can still
        write (:meth:`~processors.ordering.OrderedMerge.frontier`), when it changed."""
        assert st.merge is not None
        for topic_name, q in sorted(tp for tp in self.assigned if tp[0] in st.inputs):
            state = st.merge.frontier(q, self._at_end)
            if st.bounds_marked.get(q) == state:
                continue
            st.bounds_marked[q] = state
            header = [bound_header(topic_name, q, *state)]
            for out in sorted(st.ordered_outputs):
                for p in range(self.marker_partitions[out]):
                    self._produce(out, None, None, partition=p, headers=header)

    def _write_markers(self, st: _Stage) -> None:
        """A progress marker, to every partition of the stage's repartition topics, for each assigned source
        partition that moved or got caught up since its last marker: in the log, after the records it covers."""
        if st.merge is not None:
            self._write_bounds(st)
            return
        for tp in sorted(tp for tp in self.assigned if tp[0] in st.inputs):
            next_offset = st.source_next.get(tp)
            if next_offset is None:
                found = self._start_and_end(*tp)
                if found is None:
                    continue
                next_offset = st.source_next[tp] = found[0]
            end = self._end_offset(*tp, next_offset)
            caught_up = end is not None and next_offset >= end
            if end is not None and not caught_up:
                position = self._past_end(tp, end)
                if position is not None:
                    # only transaction markers lie between next_offset and the position: no later record of
                    # this source comes before it, and a reader checking that the source still ends where
                    # this marker says (LiveOrderedMerge's at_end) compares the end with the position
                    caught_up, next_offset = True, position
            state = (st.watermarks.of.get(tp), next_offset, caught_up,
                     tp in st.watermarks.strict or tp[0] in st.strict_inputs)
            if st.marked.get(tp) == state:
                continue
            st.marked[tp] = state
            header = [progress_header(tp[0], tp[1], *state)]
            for topic_name in sorted(st.ordered_outputs):
                for q in range(self.marker_partitions[topic_name]):
                    self._produce(topic_name, None, None, partition=q, headers=header)

    def _past_end(self, tp: tuple[str, int], end: int) -> int | None:
        """Whether the consumer's position reached ``end`` (every fetched message is processed when markers are
        written): a source written in transactions (a worker's outputs, such as the risk gate's decisions the
        paper venue reads) ends with a commit marker, which the consumer skips and never delivers, so the
        offset after its last message stays one short of the end. Returns the position when it is."""
        try:
            [position] = self.consumer.position([TopicPartition(*tp)])
        except KafkaException:
            return None
        return position.offset if position.offset >= end else None

    def _end_offset(self, topic_name: str, partition: int, position: int) -> int | None:
        """The partition's end offset: the consumer's (cached from its fetches) or, when that is unknown or
        not past the position, looked up (at most every 0.2 s)."""
        end = self._highwater(topic_name, partition)
        if end is not None and end > position:
            return end
        tp = (topic_name, partition)
        known, when = self._ends.get(tp, (None, 0.0))
        now = time.monotonic()
        if known is None or (known <= position and now - when > 0.2):
            try:
                known = self._lookup_consumer().get_watermark_offsets(TopicPartition(*tp), timeout=5)[1]
            except KafkaException:
                return end if end is not None and end >= 0 else None
            self._ends[tp] = (known, now)
        return known

    def _at_end(self, topic_name: str, partition: int, next_offset: int) -> bool:
        """Whether a source partition still ends at ``next_offset``, by an end looked up at most 0.1 s ago."""
        tp = (topic_name, partition)
        known, when = self._fresh_ends.get(tp, (None, 0.0))
        now = time.monotonic()
        if known is None or now - when > 0.1:
            try:
                known = self._lookup_consumer().get_watermark_offsets(TopicPartition(*tp), timeout=5)[1]
            except KafkaException:
                return False
            self._fresh_ends[tp] = (known, now)
        return known <= next_offset

    def _start_and_end(self, topic_name: str, partition: int) -> tuple[int, int] | None:
        """Where the group resumes a partition nothing was processed of yet (its committed offset, else the
        log start) and the partition's end."""
        try:
            consumer = self._lookup_consumer()
            low, high = consumer.get_watermark_offsets(TopicPartition(topic_name, partition), timeout=5)
            [committed] = consumer.committed([TopicPartition(topic_name, partition)], timeout=5)
        except KafkaException:
            return None
        self._ends[(topic_name, partition)] = (high, time.monotonic())
        return (committed.offset if committed.offset >= 0 else low), high

    def mark_sources(self) -> None:
        """Progress markers between commits too (at most every 50 ms), so a caught-up source says so soon."""
        now = time.monotonic()
        if now - self._marked_at < 0.05 or self.inflight is not None:
            return
        self._marked_at = now
        for st in self.stages:
            if st.ordered_outputs:
                self._write_markers(st)

    def _finish_commit(self, *, wait: bool) -> None:
        """Ends the commit in flight, if any, once it is done (or, with ``wait``, waits for it): begins the
        next transaction and produces into it what was held meanwhile. A commit that failed or never returns
        ends the worker (a restart resumes from the last commit)."""
        commit = self.inflight
        if commit is None:
            return
        if not commit.done.is_set():
            # librdkafka's own timeouts do not hold for coordinator requests: a call can block forever after
            # a broker restart (confluentinc/librdkafka #5456, #5511; seen here)
            remaining = commit.started + 2 * COMMIT_TIMEOUT_S + 5 - time.monotonic()
            if not wait and remaining > 0:
                return
            if remaining <= 0 or not commit.done.wait(remaining):
                self.stuck = True
                raise WorkerFailed(f"the commit did not return within {2 * COMMIT_TIMEOUT_S + 5:.0f} s (librdkafka "
                                   "#5456); restart the worker: it resumes from the last commit")
        self.inflight = None
        if commit.failure:
            self.offsets = {**commit.offsets, **self.offsets}  # nothing of it counts as committed
            exc = commit.failure[0]
            if not isinstance(exc, KafkaException):
                raise exc
            err = exc.args[0]
            if err.txn_requires_abort():
                with contextlib.suppress(KafkaException):
                    self.producer.abort_transaction(COMMIT_TIMEOUT_S)
            raise WorkerFailed(f"the transaction could not commit ({err.str()}); restart the worker: it resumes "
                               "from the last commit") from exc
        self.producer.begin_transaction()
        self.commits += 1
        self.last_commit = time.monotonic()
        metrics.WORKER_COMMITS.inc()
        metrics.WORKER_COMMIT_SECONDS.observe(self.last_commit - commit.started)
        held, self.held = self.held, []
        for topic_name, value, key, kwargs in held:
            self._produce(topic_name, value, key, **kwargs)


class _Commit:
    """A transaction's commit in its thread: the input offsets (``send_offsets_to_transaction``, two round
    trips) at once, then, when the worker has produced the state (``state_written``), ``commit_transaction``
    (the records' acks and EndTxn)."""

    def __init__(self, producer: Any, offsets: dict[tuple[str, int], int], group_metadata: Any, started: float):
        self.offsets = offsets
        self.started = started
        self.state_written = threading.Event()
        self.done = threading.Event()
        self.failure: list[BaseException] = []
        self.cancelled = False
        threading.Thread(target=self._run, args=(producer, group_metadata), name="commit", daemon=True).start()

    def _run(self, producer: Any, group_metadata: Any) -> None:
        try:
            if self.offsets:
                metadata = commit_metadata(int(time.time() * 1000))
                producer.send_offsets_to_transaction(
                    [TopicPartition(t, p, o, metadata) for (t, p), o in self.offsets.items()], group_metadata,
                    COMMIT_TIMEOUT_S)  # fmt: skip
            self.state_written.wait()
            if not self.cancelled:
                producer.commit_transaction(COMMIT_TIMEOUT_S)
        except BaseException as exc:  # noqa: BLE001 - handed to the worker's thread
            self.failure.append(exc)
        finally:
            self.done.set()

    def cancel(self) -> None:
        """The state could not be written: the transaction is not committed (the worker fails)."""
        self.cancelled = True
        self.state_written.set()


def run_native_worker(settings: Settings, pipeline: str) -> None:
    """Runs until SIGTERM / Ctrl-C; serves metrics."""
    metrics.serve_metrics("worker", settings)
    # The commit's thread takes the GIL back (to report that the commit is done) while this thread processes:
    # 1 ms instead of Python's default 5 ms bounds how long it waits for it.
    sys.setswitchinterval(0.001)
    worker = NativeWorker(settings, pipeline)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
