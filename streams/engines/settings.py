"""Section ``worker`` of the settings (``MERCADO_WORKER__*``): the live engines' commits and identity."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class WorkerSettings(BaseModel):
    # How often the exactly-once transaction commits (outputs become visible then).
    commit_interval_s: float = 0.1
    # Native engine: at the live edge (the last fetch took all the broker had) a transaction that holds
    # outputs commits this long after its first output (0: at once), so downstream read_committed
    # consumers see them within milliseconds; offsets and state alone, and a worker working through a
    # backlog, commit every commit_interval_s (each commit pauses processing for a few ms). 5 ms is one
    # feed producer linger: the bars of every symbol close at the same boundary and their closing ticks
    # arrive within about one linger, so they share one commit instead of the later ones waiting for
    # the first one's commit and then for their own (measured: BENCHMARKS.md, session 7).
    live_commit_interval_s: float = Field(default=0.005, ge=0)
    # "native" (one confluent-kafka loop, streams/engines/native.py) or "faust" (a faust-streaming app,
    # streams/engines/faust_engine.py). Same topics, group, state and outputs.
    engine: Literal["native", "faust"] = "native"
    # Names this worker's transactional id and static group membership (<group>.<id>): a restarted
    # worker with the same id fences the old one's open transaction and takes its partitions back at
    # once. Workers of one pipeline that run together need different ids.
    id: str = Field(default="0", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # Takeover after a crash (native engine). With static membership (group.instance.id, above) a member that
    # dies without leaving keeps its partitions until the broker has not heard from it for
    # session_timeout_ms (librdkafka's default, 45 s, was a minute of silence per crash; the broker accepts
    # 6-1800 s by default: group.min/max.session.timeout.ms). A clean stop leaves the same way (static
    # members do not send LeaveGroup), so a worker restarted within it takes its partitions back at once.
    session_timeout_ms: int = Field(default=6000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1500, ge=100)
    # The dead worker's open transaction is aborted by the broker once it is older than this (checked every
    # transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default; infra/kafka sets 1 s):
    # until then the new owner cannot read the group's offsets of its partitions and read_committed readers
    # of the outputs see nothing after it. A transaction lives one commit interval plus its commit; 10 s is
    # Kafka Streams' choice under exactly-once. 5 s was too tight: under a loaded CI machine a risk worker
    # restarted after kill -9 (47 MB of state restored, a backlog to process) had its transaction aborted by
    # the coordinator and exited fenced (tests/integration/test_risk_kafka.py, once in three runs).
    transaction_timeout_ms: int = Field(default=10000, ge=1000)
    # Native engine, a stage merging a repartition topic's writers at the live edge (docs/architecture.md,
    # "Scale-out"): held records wait this long for a writer that announced its source caught up (and whose
    # source the reader finds still ending there) before they pass it; input reaching that source within
    # this time still comes first, as in the replay. -1: never pass (the replay's order whatever the timing,
    # but what is past an idle source waits for that source's next record). Kafka Streams'
    # max.task.idle.ms.
    merge_idle_ms: int = Field(default=500, ge=-1)
