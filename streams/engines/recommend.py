"""The recommendations job outside the worker: backtests (the replay's code path) and job requests.

``run_backtest`` reads the input topics up to the last cutoff in event-time order (the replay's
reader), merges in one ``JobRequested`` per trading day of the range at its cutoff, and feeds them
through the pipeline's stages with :func:`streams.engines.replay.run_replay` — the driver, admission
and processors the worker runs. So a backtest of a date gives what the worker said that day, and
re-running it gives the same event ids.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from processors import topics
from processors.core import Emit
from processors.recommendations import schedule
from processors.recommendations.calendar import TradingCalendar
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.engines.replay import InputMessage, KafkaRangeReader, ReplayReport, run_replay
from streams.kafka.consumer import default_serde
from streams.kafka.headers import PRODUCED_AT_HEADER
from streams.runtime.driver import Output
from streams.runtime.pipelines import build_stages

PIPELINE = "recommendations"
DATA_TOPICS = (topics.DAILY_BARS, topics.FUNDAMENTALS, topics.MACRO, topics.SENTIMENT)


def job_request(settings: Settings, day: date, trigger: str) -> dict[str, Any]:
    """The JobRequested of ``day``'s run; its event id depends only on the job and the date."""
    return schedule.job_request(day, settings.recommendations, trigger)


class Collected:
    """An output sink (:class:`streams.engines.replay.OutputSink`) keeping the job's outputs."""

    def __init__(self) -> None:
        self.emits: list[Emit] = []
        self.counts: dict[str, int] = {}

    def write(self, outputs: list[Output]) -> None:
        for o in outputs:
            self.counts[o.topic] = self.counts.get(o.topic, 0) + 1
            if o.topic != topics.RECO_INPUTS:
                self.emits.append(o.emit)

    def close(self) -> dict[str, int]:
        return dict(self.counts)


def _job_messages(settings: Settings, serde: AvroSerde, days: Iterable[date], trigger: str) -> Iterator[InputMessage]:
    schema = serde.schemas["JobRequested"]
    name = settings.topic(topics.JOB_REQUESTS)
    for day in days:
        record = job_request(settings, day, trigger)
        stamp = [(PRODUCED_AT_HEADER, str(record["cutoff"]).encode())]  # as if requested at the cutoff
        yield InputMessage(name, 0, -1, record["cutoff"] // 1000, None, stamp, (schema, record),
                           record["cutoff"] // 1000)


def run_backtest(settings: Settings, first: date, last: date, sink: Any | None = None,
                 trigger: str = "backtest") -> tuple[Collected | Any, ReplayReport, list[date]]:
    """Every trading day of [first, last] as the job would have answered it, from the input topics."""
    calendar = TradingCalendar(settings.recommendations)
    days = calendar.trading_days(first, last)
    serde = default_serde(settings)
    sink = sink if sink is not None else Collected()
    end_ms = (calendar.cutoff_us(last) // 1000 + 1) if days else 0
    reader = KafkaRangeReader(settings, [settings.topic(t) for t in DATA_TOPICS], None, end_ms, serde)
    try:
        # inputs at the same millisecond as a cutoff go first (at or before the cutoff: known)
        merged = heapq.merge(((m.order_ms, 0, i, m) for i, m in enumerate(reader)),
                             ((m.order_ms, 1, i, m) for i, m in enumerate(_job_messages(settings, serde, days,
                                                                                          trigger))))
        stages = build_stages(PIPELINE, settings)
        report = run_replay((m for *_, m in merged), stages, serde, sink, total=reader.total + len(days))
    finally:
        reader.close()
    return sink, report, days


def produce_job_requests(settings: Settings, records: list[dict[str, Any]]) -> None:
    """Writes job requests to the job-requests topic through the door (validated, stamped, idempotent)."""
    from streams.ingest.producer import FileProducer

    door = FileProducer(settings, topics.JOB_REQUESTS)
    now = time.time_ns() // 1000
    door.now_us = now
    for record in records:
        _name, key, t, value = door.encode_row(dict(record))
        door._produce_waiting(value, key, t // 1000, [(PRODUCED_AT_HEADER, str(now).encode())])
    door.flush()


def read_topic(settings: Settings, topic_name: str) -> list[dict[str, Any]]:
    """Every record of a topic (read committed, to its end), in event-time order. A consumer that stops at
    each partition's end: a topic the worker writes in transactions ends with a commit marker, which
    the replay's range reader would wait for as if it were a message."""
    from streams.kafka.consumer import EventConsumer

    with EventConsumer(settings, [settings.topic(topic_name)]) as consumer:
        records = [ev.record for ev in consumer.iterate(idle_timeout=10)]
    records.sort(key=lambda r: r["event_time"])
    return records


def last_requested(settings: Settings) -> date | None:
    """The latest run date in the job-requests topic (what the scheduler requested before it stopped)."""
    dates = [r["run_date"] for r in read_topic(settings, topics.JOB_REQUESTS)]
    return date.fromisoformat(max(dates)) if dates else None
