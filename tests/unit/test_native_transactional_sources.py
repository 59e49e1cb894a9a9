"""A first stage's source written in transactions (the risk gate's decisions, read by the paper venue) ends with
a commit marker the consumer never delivers: the source is caught up once the consumer's position passed the
end, although the offset after its last message is one short (no broker: a stand-in consumer)."""

from __future__ import annotations

from confluent_kafka import KafkaException, TopicPartition

from streams.config import Settings
from streams.engines.native import NativeWorker


class _Positions:
    def __init__(self, offset: int | None):
        self.offset = offset

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        if self.offset is None:
            raise KafkaException("no position")
        return [TopicPartition(p.topic, p.partition, self.offset) for p in partitions]


def _worker(position: int | None) -> NativeWorker:
    worker = NativeWorker(Settings(), "venue-paper")
    worker.consumer = _Positions(position)
    return worker


def test_a_position_past_the_commit_marker_is_the_end() -> None:
    tp = ("risk.order-decisions.v1", 1)
    assert _worker(8)._past_end(tp, 8) == 8  # last message at 6, its commit marker at 7: the position is 8
    assert _worker(7)._past_end(tp, 8) is None  # a message at 7 is still to come
    assert _worker(-1001)._past_end(tp, 8) is None  # nothing fetched yet (librdkafka's invalid offset)
    assert _worker(None)._past_end(tp, 8) is None  # no answer: not caught up
