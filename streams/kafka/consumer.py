"""Consuming and decoding events; undecodable messages become dead letters (streams/kafka/dead_letters.py),
never crashes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from schemas.compat import released_schemas
from schemas.loader import AvroSchema
from streams.codec.serde import AvroSerde, DecodeError
from streams.config import Settings
from streams.kafka.catalog import DEAD_LETTER_TOPIC
from streams.kafka.clients import consumer_config, end_reader_config, producer_config
from streams.kafka.dead_letters import DeadLetter

T = TypeVar("T")


def fetch_ready(consumer: Consumer, n: int = 1000, wait_s: float = 0.05) -> list[Any]:
    """What librdkafka has prefetched (up to ``n``), else the first message within ``wait_s`` and whatever came
    with it. ``consume(n, timeout)`` returns only once it holds ``n`` messages or the whole timeout has passed
    (librdkafka's batch call), which adds up to ``timeout`` to the latency of every message of a live stream."""
    batch = consumer.consume(n, 0)
    if batch:
        return batch
    first = consumer.poll(wait_s)
    return [] if first is None else [first, *consumer.consume(n - 1, 0)]


@dataclass(frozen=True)
class ConsumedEvent:
    topic: str
    partition: int
    offset: int
    key: str | None
    timestamp_ms: int
    schema: AvroSchema
    record: dict[str, Any]


class DeadLetterQueue:
    """Writes undecodable messages to the dead-letter topic with an idempotent producer."""

    def __init__(self, settings: Settings, producer: Producer | None = None, topic: str = DEAD_LETTER_TOPIC):
        self.topic = settings.topic(topic)
        self.producer = producer or Producer(producer_config(settings))
        self.count = 0

    def send(self, msg: Any, error: DecodeError) -> DeadLetter:
        letter = DeadLetter.of_message(msg, error.reason, error.message)
        value, key, headers = letter.kafka_record()
        self.producer.produce(self.topic, value, key, headers=headers)
        self.producer.poll(0)
        self.count += 1
        return letter

    def flush(self, timeout: float = 30.0) -> int:
        return self.producer.flush(timeout)


def default_serde(settings: Settings) -> AvroSerde:
    """The serde consumers use: current contracts plus every released version as writer schemas."""
    return AvroSerde(registry_url=settings.kafka.schema_registry_url, released=released_schemas())


class EventConsumer:
    """Reads topics and yields decoded events; undecodable ones go to the dead-letter queue.

    With ``group_id`` it joins a consumer group (offsets committed by the caller); without, it assigns
    every partition itself and reads from the beginning, the end, or ``start_offsets``, committing
    nothing (inspection).
    """

    def __init__(
        self,
        settings: Settings,
        topics: list[str],
        *,
        group_id: str | None = None,
        from_beginning: bool = True,
        serde: AvroSerde | None = None,
        dead_letters: DeadLetterQueue | None = None,
        start_offsets: dict[tuple[str, int], int] | None = None,
    ):
        self.serde = serde or default_serde(settings)
        self.dead_letters = dead_letters
        self.rejected: list[DeadLetter] = []
        self._eof: set[tuple[str, int]] = set()
        # without a group it inspects, reading to the end of its partitions: the end known at once
        cfg = (consumer_config if group_id else end_reader_config)(
            settings,
            group_id or f"mercado-inspect-{time.time_ns()}",
            **({} if from_beginning else {"auto.offset.reset": "latest"}),
        )
        self.consumer = Consumer(cfg)
        self.partitions: list[TopicPartition] = []
        if group_id:
            self.consumer.subscribe(topics)
        else:
            md = self.consumer.list_topics(timeout=30)
            for name in topics:
                if name not in md.topics or md.topics[name].error is not None:
                    raise KeyError(f"topic {name!r} does not exist (run `mercado topics create`)")
                default = OFFSET_BEGINNING if from_beginning else OFFSET_END
                for p in sorted(md.topics[name].partitions):
                    start = (start_offsets or {}).get((name, p), default)
                    self.partitions.append(TopicPartition(name, p, start))
            self.consumer.assign(self.partitions)

    def at_end(self) -> bool:
        """True once every assigned partition reported end-of-partition since its last message."""
        return bool(self.partitions) and len(self._eof) == len(self.partitions)

    def poll(self, max_messages: int = 1000, timeout: float = 1.0) -> list[ConsumedEvent]:
        """The decoded events of what is ready (:func:`fetch_ready`: up to ``max_messages``, waiting at most
        ``timeout`` for the first): reading a topic to its end costs no full ``timeout`` per batch."""
        out: list[ConsumedEvent] = []
        for msg in fetch_ready(self.consumer, max_messages, timeout):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._eof.add((msg.topic(), msg.partition()))
                    continue
                raise RuntimeError(f"consumer error: {err.str()}")
            self._eof.discard((msg.topic(), msg.partition()))
            if msg.value() is None:  # a progress marker (is_marker) or a compacted topic's tombstone: no event
                continue
            try:
                schema, record = self.serde.decode(msg.value())
            except DecodeError as exc:
                self.rejected.append(
                    self.dead_letters.send(msg, exc)
                    if self.dead_letters
                    else DeadLetter.of_message(msg, exc.reason, exc.message)
                )
                continue
            key = msg.key()
            out.append(
                ConsumedEvent(
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    key.decode("utf-8", "replace") if key is not None else None,
                    msg.timestamp()[1],
                    schema,
                    record,
                )
            )
        return out

    def iterate(
        self, *, max_events: int | None = None, follow: bool = False, idle_timeout: float = 10.0
    ) -> Iterator[ConsumedEvent]:
        """Events until ``max_events``, or (unless ``follow``) the end of every partition.

        Stops as well after ``idle_timeout`` seconds without any message when not following.
        """
        seen = 0
        idle_since = time.monotonic()
        while True:
            batch = self.poll(1000, 0.5)
            if batch:
                idle_since = time.monotonic()
            for event in batch:
                yield event
                seen += 1
                if max_events is not None and seen >= max_events:
                    return
            if not follow and (self.at_end() or time.monotonic() - idle_since > idle_timeout):
                return

    def close(self) -> None:
        if self.dead_letters is not None:
            self.dead_letters.flush()
        self.consumer.close()

    def __enter__(self) -> EventConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# A partition of a topic created a moment ago can answer "not leader" or "unknown" to an offset lookup
# although the metadata already names its leader, and a broker just started answers "not coordinator" or
# "loading" for a group's offsets; both go away within seconds.
_NOT_READY = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
              KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.NOT_COORDINATOR,
              KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE,
              KafkaError._UNKNOWN_PARTITION)  # (local: a topic just created elsewhere, not in its metadata yet)


def when_ready(call: Callable[[], T], timeout: float = 30.0) -> T:
    """``call()``, asked again while the broker answers that the partition or group is not ready yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_READY or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def watermarks(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> tuple[int, int]:
    """``get_watermark_offsets`` that waits out a partition whose leader is not ready yet (a new topic)."""
    return when_ready(lambda: consumer.get_watermark_offsets(tp, timeout=timeout), timeout)


def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """The current high watermark of every partition of ``topics``."""
    consumer = Consumer(consumer_config(settings, f"mercado-offsets-{time.time_ns()}"))
    try:
        md = consumer.list_topics(timeout=30)
        out = {}
        for name in topics:
            for p in md.topics[name].partitions:
                _low, high = watermarks(consumer, TopicPartition(name, p))
                out[(name, p)] = high
        return out
    finally:
        consumer.close()


def data_end_offsets(settings: Settings, topics: list[str], tail: int = 64) -> dict[tuple[str, int], int]:
    """The offset after the last committed *message* of every partition of ``topics``.

    A transactional topic (every ``mercado worker`` output) ends with a commit marker: its high
    watermark is one past the marker, which no consumer ever delivers or commits. "Caught up" is
    reaching this offset. Only the last ``tail`` offsets of each partition are read (a partition ends
    with at most one marker per transaction that wrote to it)."""
    ends = end_offsets(settings, topics)
    found = dict.fromkeys(ends, 0)
    consumer = Consumer(consumer_config(settings, f"mercado-offsets-{time.time_ns()}"))
    try:
        for (name, p), end in ends.items():
            if end == 0:
                continue
            low, _high = watermarks(consumer, TopicPartition(name, p))
            start = max(low, end - tail)
            while True:
                consumer.assign([TopicPartition(name, p, start)])
                last = None
                while True:
                    msg = consumer.poll(10)
                    if msg is None:
                        raise TimeoutError(f"could not read {name}[{p}] to its end")
                    if msg.error() is None:
                        last = msg.offset()
                    elif msg.error().code() == KafkaError._PARTITION_EOF:
                        break
                    else:
                        raise KafkaException(msg.error())
                if last is not None or start == low:
                    found[(name, p)] = 0 if last is None else last + 1
                    break
                start = max(low, start - 16 * tail)  # only markers in the tail: look further back
    finally:
        consumer.close()
    return found
