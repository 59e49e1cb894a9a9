"""Several stages of one pipeline in one process: the routing every multi-stage runner shares, and the
pure in-process runner that the retail and risk pipelines, their tests and the benchmarks use.

A pipeline is a list of stages (:class:`~processors.core.PipelineSpec`) in data-flow order; a stage's
output topic that is a later stage's input is a repartition topic. Live, a stage's output goes to the
partition Kafka's partitioner gives its key, and the later stage's worker reads that partition in log
order. Every runner that runs the stages together in one process — :class:`InProcessPipeline` here, and
the replay (``streams/engines/replay.py``, which adds decoding, admission and dead letters around the
same :class:`~processors.runtime.PartitionRuntime`) — routes outputs with :class:`StageRoutes`, so each
later stage sees each of its partitions in the order the live log would hold it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from processors.core import Emit, PipelineSpec, Record
from processors.partitioning import partition_of
from processors.runtime import PartitionRuntime


class StageRoutes:
    """Which later stages read a topic, and on which of its partitions Kafka puts a key."""

    def __init__(self, specs: Sequence[PipelineSpec], partitions: int | Callable[[str], int]):
        self.specs = list(specs)
        if not self.specs:
            raise ValueError("a pipeline has at least one stage")
        count = partitions if callable(partitions) else (lambda _topic: partitions)
        readers: dict[str, list[int]] = {}
        for i, spec in enumerate(self.specs):
            for t in spec.inputs:
                readers.setdefault(t, []).append(i)
        # topic -> the stages reading it, in order (a stage's own inputs included: see later())
        self.readers: dict[str, tuple[int, ...]] = {t: tuple(v) for t, v in readers.items()}
        self._count = count  # asked once per topic, when a key of it is first placed
        self._placed: dict[str, dict[str, int]] = {}  # topic -> key -> partition

    def first_reader(self, topic: str) -> int:
        """The first stage that reads ``topic`` (where an event fed from outside enters)."""
        try:
            return self.readers[topic][0]
        except KeyError:
            raise KeyError(f"no stage reads {topic!r}") from None

    def later(self, stage: int, topic: str) -> tuple[int, ...]:
        """The stages after ``stage`` that read ``topic`` (an output of ``stage``)."""
        return tuple(j for j in self.readers.get(topic, ()) if j > stage)

    def partition(self, topic: str, key: str) -> int:
        """The partition of ``topic`` that Kafka's default partitioner gives ``key`` (cached per key)."""
        placed = self._placed.get(topic)
        if placed is None:
            placed = self._placed[topic] = {}
        p = placed.get(key)
        if p is None:
            p = placed[key] = partition_of(key, self.partitions_of(topic))
        return p

    def partitions_of(self, topic: str) -> int:
        n = self._count(topic)
        if n < 1:
            raise ValueError(f"{topic}: partitions must be at least 1")
        return n


Item = tuple[int, str, str, str, Record]  # (stage, topic, key, schema, record)


class InProcessPipeline:
    """Every stage of a pipeline over in-memory records, deterministically: one
    :class:`~processors.runtime.PartitionRuntime` per stage and partition; an output that a later stage
    reads is processed there next, on its key's partition, first in first out (each partition's log
    order). ``partitions`` is every topic's partition count (the catalog's default is 3)."""

    def __init__(self, specs: Sequence[PipelineSpec], partitions: int = 3):
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.routes = StageRoutes(specs, partitions)
        self.specs = self.routes.specs
        self.partitions = partitions
        self.runtimes = [[PartitionRuntime(spec) for _ in range(partitions)] for spec in self.specs]
        self._next: dict[tuple[int, str], tuple[int, ...]] = {}  # (stage, output topic) -> later readers

    def feed_to(self, topic: str, schema: str, record: Record) -> list[Emit]:
        """One input event of ``topic``; every output of every stage it caused, in production order."""
        stage = self.routes.first_reader(topic)
        key = self.specs[stage].key_of(schema, record)
        return self._drain(deque([(stage, topic, key, schema, record)]))

    def run_events(self, events: Iterable[tuple[str, str, Record]], until_us: int | None = None) -> list[Emit]:
        """``(topic, schema, record)`` events in order, then (optionally) every clock moved to ``until_us``."""
        out: list[Emit] = []
        for topic, schema, record in events:
            out.extend(self.feed_to(topic, schema, record))
        if until_us is not None:
            out.extend(self.advance(until_us))
        return out

    def advance(self, now_us: int) -> list[Emit]:
        """Moves every partition clock of every stage to ``now_us`` (due timers fire), stage by stage;
        what the timers emit flows on to the later stages."""
        out: list[Emit] = []
        for stage, runtimes in enumerate(self.runtimes):
            for rt in runtimes:
                fired = rt.advance(now_us)
                if fired:
                    queue: deque[Item] = deque()
                    self._collect(stage, fired, out, queue)
                    if queue:
                        out.extend(self._drain(queue))
        return out

    def _collect(self, stage: int, emitted: list[Emit], out: list[Emit], queue: deque[Item]) -> None:
        nexts = self._next
        for e in emitted:
            out.append(e)
            later = nexts.get((stage, e.topic))
            if later is None:
                later = nexts[(stage, e.topic)] = self.routes.later(stage, e.topic)
            for j in later:
                queue.append((j, e.topic, e.key, e.schema, e.record))

    def _drain(self, queue: deque[Item]) -> list[Emit]:
        out: list[Emit] = []
        runtimes, partition = self.runtimes, self.routes.partition
        while queue:
            stage, topic, key, schema, record = queue.popleft()
            emitted = runtimes[stage][partition(topic, key)].process(schema, record, key)
            if emitted:
                self._collect(stage, emitted, out, queue)
        return out

    def processor_of(self, stage: int, key: str) -> Any:
        """The processor of ``key`` in ``stage`` (created when the key is new)."""
        topic = self.specs[stage].inputs[0]
        return self.runtimes[stage][self.routes.partition(topic, key)].processor(key)

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

    def restore_state(self, state: dict[str, Any]) -> None:
        """Puts a :meth:`snapshot` back (into a runner built with the same stages and partitions)."""
        if state["partitions"] != self.partitions:
            raise ValueError(f"state of {state['partitions']} partitions, runner of {self.partitions}")
        for spec, runtimes in zip(self.specs, self.runtimes, strict=True):
            for rt, snap in zip(runtimes, state["stages"][spec.name], strict=True):
                rt.restore(snap)
