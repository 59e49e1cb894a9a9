"""``mercado worker`` as a child process of a test: the one way the integration tests start one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streams.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: Settings, pipeline: str, engine: str = "native", extra_env: dict[str, str] | None = None,
                 log: Path | None = None) -> subprocess.Popen:
    """``mercado worker --pipeline <pipeline>`` on the settings' topic prefix, in a process group of its own
    (so a test can ``kill -9`` it whole), with the pipelines' sections of ``settings`` (a test's risk or
    recommendations configuration) and its stderr appended to ``log`` (default ``.mercado/worker-test.log``)."""
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MERCADO_METRICS__PORT_WORKER": "0", "MERCADO_WORKER__ENGINE": engine,
           "MERCADO_RISK": settings.risk.model_dump_json(),
           "MERCADO_RECOMMENDATIONS": settings.recommendations.model_dump_json(),
           "MERCADO_PAPER": settings.paper.model_dump_json(), **(extra_env or {})}
    log = log or ROOT / ".mercado" / "worker-test.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as err:
        return subprocess.Popen([sys.executable, "-m", "streams.commands.cli", "worker", "--pipeline", pipeline],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)


class CommittedCounter:
    """How many committed events (read_committed; progress markers and tombstones, which carry no value, left
    out: what :class:`~streams.kafka.consumer.EventConsumer` yields) each of ``topics`` holds so far, read
    incrementally and never decoded. A test polls it while a worker runs and reads and decodes the outputs only
    once the counts say they can be complete: reading every output again at each poll (hundreds of thousands of
    records for a day of risk) took the CPU from the workers it waited for."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        import time

        from confluent_kafka import Consumer

        from streams.kafka.clients import consumer_config

        self.physical = {settings.topic(t): t for t in topics}
        self.counts = dict.fromkeys(topics, 0)
        self.consumer = Consumer(consumer_config(settings, f"{settings.kafka.topic_prefix}count-{time.time_ns()}",
                                                 **{"enable.partition.eof": False, "fetch.wait.max.ms": 10}))
        self.assigned = False

    def read(self) -> dict[str, int]:
        """The counts, with what arrived since the last call. They may lag what a read to the end would count
        (it stops once a fetch brings nothing), never exceed it: a wait for a count of at least n is as strict
        as a wait on a full read."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        if not self.assigned:
            md = self.consumer.list_topics(timeout=10).topics
            if any(name not in md or md[name].error is not None for name in self.physical):
                return dict(self.counts)  # not created yet: nothing written
            self.consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for name in self.physical
                                  for p in md[name].partitions])
            self.assigned = True
        while True:
            batch = self.consumer.consume(10_000, 0.2)
            if not batch:
                return dict(self.counts)
            for msg in batch:
                if msg.error() is None and msg.value() is not None:
                    self.counts[self.physical[msg.topic()]] += 1

    def close(self) -> None:
        self.consumer.close()
