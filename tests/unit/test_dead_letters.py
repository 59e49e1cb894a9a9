"""The one dead-letter type (streams/kafka/dead_letters.py) and the record it puts on the topic."""

from __future__ import annotations

from processors.admission import Refused
from streams.kafka.dead_letters import DLQ_PREFIX, DeadLetter


class _Msg:  # the confluent-kafka Message accessors the sink and the consumer use
    def topic(self) -> str:
        return "md.ticks.v1"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"binance:BTC/USDT"

    def value(self) -> None:
        return None

    def headers(self) -> list[tuple[str, bytes]]:
        return [("origin", b"fuzzer")]


def test_the_record_keeps_key_and_value_says_where_from_and_why_then_the_original_headers() -> None:
    letter = DeadLetter.refused("md.ticks.v1", 2, 41, b"k", b"\x00bytes", None, Refused("bad_magic", "é" * 600))
    value, key, headers = letter.kafka_record()
    assert (value, key) == (b"\x00bytes", b"k")
    names = [n for n, _ in headers]
    assert names == [DLQ_PREFIX + n for n in ("reason", "error", "topic", "partition", "offset", "at-us")]
    h = dict(headers)
    assert h[DLQ_PREFIX + "reason"] == b"bad_magic"
    assert h[DLQ_PREFIX + "error"] == ("é" * 500).encode()  # at most 1000 bytes
    assert (h[DLQ_PREFIX + "topic"], h[DLQ_PREFIX + "partition"], h[DLQ_PREFIX + "offset"]) == (
        b"md.ticks.v1", b"2", b"41")


def test_a_consumed_message_becomes_the_same_type() -> None:
    letter = DeadLetter.of_message(_Msg(), "truncated", "3 bytes", record_type=None)
    assert (letter.topic, letter.partition, letter.offset, letter.reason, letter.error) == (
        "md.ticks.v1", 2, 41, "truncated", "3 bytes")
    value, key, headers = letter.kafka_record()
    assert value == b"" and key == b"binance:BTC/USDT"  # no value: an empty one
    assert headers[-1] == ("origin", b"fuzzer") and not letter.sent
