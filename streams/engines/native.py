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
* A stage that reads several topics, or whose outputs feed a later stage, merges its input partitions
  in the replay's event-time order (:class:`~streams.engines.live.LiveAligner`); held messages are state.
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
import gc
import signal
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import orjson
import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streams.config import Settings
from streams.engines.live import (
    LiveAligner,
    Produce,
    Router,
    StateWrite,
    changelog_topic,
    group_id,
    observe_batch,
    saved_keys,
    state_writes,
)
from streams.kafka.catalog import DEAD_LETTER_TOPIC, TopicSpec, topic
from streams.kafka.clients import consumer_config, producer_config
from streams.kafka.consumer import default_serde
from streams.observability import metrics
from streams.runtime.align import Held
from streams.runtime.driver import PipelineDriver
from streams.runtime.pipelines import build_stages

log = structlog.get_logger("mercado.worker")

_EOF = KafkaError._PARTITION_EOF
RESTORE_TIMEOUT_S = 300.0
COMMIT_TIMEOUT_S = 30.0  # per transactional call
HELD_MAX = 100_000  # records produced during a commit, held for the next transaction


class WorkerFailed(RuntimeError):
    """The worker cannot go on without a restart (its last commit stays the resume point)."""


class _Stage:
    """One stage of the pipeline: its driver, its state table (this worker's partitions of the
    changelog) and, for a stage that merges or repartitions, its aligner."""

    def __init__(self, worker: NativeWorker, spec: Any, align: bool) -> None:
        s = worker.settings
        self.spec = spec
        self.inputs = {s.topic(t) for t in spec.inputs}
        self.partitions = topic(spec.inputs[0]).partitions  # the changelog is co-partitioned with the input
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
        # As in the faust engine: a stage that reads several topics or feeds a later stage sees its inputs
        # in the replay's event-time order; a last stage with one input needs no more than partition order.
        self.stages = [_Stage(self, spec, align=len(spec.inputs) > 1 or i < len(stages) - 1)
                       for i, spec in enumerate(stages)]
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
        changelogs = tuple(
            TopicSpec(st.changelog.removeprefix(s.kafka.topic_prefix), (), (), f"state of {st.spec.name}",
                      partitions=st.partitions, cleanup_policy="compact")
            for st in self.stages
        )
        ensure_topics(s, tuple(topic(name) for name in sorted(logical)) + changelogs)
        member = f"{self.group}.{s.worker.id}"
        try:
            self._new_producer()
        except KafkaException as exc:
            raise WorkerFailed(f"could not start the transactional producer: {exc.args[0].str()}") from exc
        self.consumer = Consumer(consumer_config(
            s, self.group, **{"group.instance.id": member, "enable.partition.eof": False}
        ))
        self.consumer.subscribe(sorted(self.by_topic), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        self.last_commit = time.monotonic()
        # Everything loaded so far (modules, calendars, schemas: ~10^5 objects) lives as long as the process;
        # frozen, it is no longer traversed by the cyclic GC, whose full collections otherwise stop the worker
        # for ~30 ms (seen as a latency spike in bench.marketdata_live).
        gc.freeze()

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
        }))
        self.producer.init_transactions(60)
        self.producer.begin_transaction()

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def close(self) -> None:
        """Commits what was processed and leaves (static membership: the partitions wait for this
        worker's restart until the session times out)."""
        if self.consumer is not None:
            if not self.lost:
                self.commit()
            self.consumer.close()
            self.consumer = None

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
        new = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned |= new
        for st in self.stages:
            parts = {p for t, p in new if t in st.inputs}
            if parts:
                self._restore(st, parts)
        log.info("partitions assigned", partitions=len(new))

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
        reader = Consumer(consumer_config(self.settings, f"{self.group}.restore", **{"enable.partition.eof": True}))
        try:
            reader.assign([TopicPartition(st.changelog, p, OFFSET_BEGINNING) for p in sorted(parts)])
            remaining = set(parts)
            deadline = time.monotonic() + RESTORE_TIMEOUT_S
            restored = 0
            while remaining:
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"restoring {st.changelog} {sorted(remaining)} took over {RESTORE_TIMEOUT_S} s")
                for msg in reader.consume(1000, 0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == _EOF:
                            remaining.discard(msg.partition())
                            continue
                        raise WorkerFailed(f"restoring {st.changelog}: {err.str()}")
                    value = msg.value()
                    if value is None:
                        st.table.pop(msg.key(), None)
                    else:
                        st.table[msg.key()] = value
                    restored += 1
        finally:
            reader.close()
        if st.aligner is not None:
            st.aligner.restore(parts)
        log.info("state restored", stage=st.spec.name, partitions=sorted(parts), records=restored)

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
            if st.aligner is None:
                self._run(st, batch)
            else:
                helds = [Held(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                              tuple(m.headers() or ())) for m in batch]
                self._run_held(st, st.aligner.arrived(helds))
            observe_batch(((m.topic(), m.partition(), m.offset(), m.timestamp()[1] / 1000) for m in batch),
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

    def _run(self, st: _Stage, batch: list[Any]) -> None:
        """A batch of one stage's messages, decoded together."""
        driver, route = st.driver, st.router.route
        decoded = self.serde.decode_many([m.value() for m in batch])
        for msg, item in zip(batch, decoded, strict=True):
            result = driver.process_decoded(msg.topic(), msg.partition(), msg.offset(), item, msg.headers())
            if result:
                self._send(route(result, msg.key(), msg.value(), msg.headers()))

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
            else:
                produce(r.topic, r.value, r.key, headers=r.headers)

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
                if st.aligner is not None:
                    self._write_state(st, st.aligner.save())
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
                producer.send_offsets_to_transaction(
                    [TopicPartition(t, p, o) for (t, p), o in self.offsets.items()], group_metadata, COMMIT_TIMEOUT_S
                )
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
