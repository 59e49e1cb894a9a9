"""Reading a topic whole, to where each partition ends now: the last value per key of a compacted topic.

The scanner's board is such a topic (``scanner.results.v1``, key scanner:session:ticker, a tombstone
when a ticker left every category): ``mercado scanner board|persist`` and the gateway's
``/api/v1/scanner/board`` both rebuild it from here, with :func:`processors.scanner.records.rebuild_board`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from processors import topics
from processors.core import Record
from processors.scanner.records import rebuild_board
from streams.config import Settings
from streams.kafka.clients import end_reader_config
from streams.kafka.consumer import default_serde, fetch_ready


class TopicMissing(LookupError):
    """A topic to read does not exist (yet)."""


def read_topic_to_end(settings: Settings, names: list[str], timeout_s: float = 60.0) -> Iterator[Message]:
    """Every committed message of ``names`` (tombstones included), from the beginning to where each
    partition ends now (its end-of-partition event, read_committed)."""
    consumer = Consumer(end_reader_config(settings, f"mercado-read-{time.time_ns()}"))
    try:
        md = consumer.list_topics(timeout=30)
        missing = [n for n in names if n not in md.topics or md.topics[n].error is not None]
        if missing:
            raise TopicMissing(f"no topic {', '.join(missing)}")
        partitions = [TopicPartition(n, p, OFFSET_BEGINNING) for n in names for p in sorted(md.topics[n].partitions)]
        consumer.assign(partitions)
        pending = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not reach the end of {sorted(pending)} in {timeout_s:.0f} s")
            for msg in fetch_ready(consumer, 1000, 0.2):
                error = msg.error()
                if error is None:
                    yield msg
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard((msg.topic(), msg.partition()))
                else:
                    raise RuntimeError(f"consumer error: {error.str()}")
    finally:
        consumer.close()


def read_latest(settings: Settings, topic: str, timeout_s: float = 60.0) -> dict[bytes, Record]:
    """Key -> the last value of ``topic`` (a logical name), read to its end; a tombstone removes its key."""
    serde = default_serde(settings)
    latest: dict[bytes, Record | None] = {}
    for msg in read_topic_to_end(settings, [settings.topic(topic)], timeout_s):
        latest[msg.key()] = None if msg.value() is None else serde.decode(msg.value())[1]
    return {k: r for k, r in latest.items() if r is not None}


def read_board_lines(settings: Settings, timeout_s: float = 60.0) -> list[Record]:
    """The current ScanResult lines: ``scanner.results.v1`` read to its end, the last value per key (a
    tombstone removes its key)."""
    return list(read_latest(settings, topics.SCAN_RESULTS, timeout_s).values())


def current_board(settings: Settings, scanner: str | None = None) -> dict[str, dict[str, list[Record]]]:
    """session -> category -> ScanResult lines in rank order (of one scanner, or every one)."""
    lines = read_board_lines(settings)
    if scanner is not None:
        lines = [r for r in lines if r["scanner"] == scanner]
    return rebuild_board(lines)
