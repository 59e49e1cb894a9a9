"""``streams.kafka.consumer.watermarks``: an offset lookup on a partition whose leader is not ready yet (a
topic created a moment ago) is retried; any other error is not."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.kafka.consumer import watermarks


class FlakyLookup:
    def __init__(self, errors: list[int]) -> None:
        self.errors = list(errors)
        self.calls = 0

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return (3, 42)


def test_a_partition_without_a_ready_leader_is_asked_again() -> None:
    lookup = FlakyLookup([KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART])
    assert watermarks(lookup, TopicPartition("t", 0)) == (3, 42)  # type: ignore[arg-type]
    assert lookup.calls == 3


def test_other_errors_are_raised_at_once() -> None:
    lookup = FlakyLookup([KafkaError.TOPIC_AUTHORIZATION_FAILED])
    with pytest.raises(KafkaException) as info:
        watermarks(lookup, TopicPartition("t", 0))  # type: ignore[arg-type]
    assert info.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert lookup.calls == 1


def test_it_gives_up_after_the_timeout() -> None:
    lookup = FlakyLookup([KafkaError.LEADER_NOT_AVAILABLE] * 1000)
    with pytest.raises(KafkaException):
        watermarks(lookup, TopicPartition("t", 0), timeout=0.25)  # type: ignore[arg-type]
    assert 2 <= lookup.calls < 10


def test_a_group_coordinator_still_loading_is_asked_again() -> None:
    from streams.kafka.consumer import when_ready

    errors = [KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR]

    def committed() -> int:
        if errors:
            raise KafkaException(KafkaError(errors.pop(0)))
        return 7

    assert when_ready(committed) == 7 and errors == []
