"""A dead letter: a message that was refused, where it came from and why — the one type and the one way
to put it on the dead-letter topic, for the consumer, both worker engines and the sink.

On ``mercado.deadletter.v1`` a dead letter keeps the original key and value bytes (an empty value for
none); its headers say where it came from and why it was refused (``mercado.dlq.*``: ``reason``,
``error`` — at most 1000 bytes —, ``topic``, ``partition``, ``offset``, ``at-us`` when it was written),
and the original headers follow them. ``mercado dead-letters`` reads them back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from processors.admission import Refused

DLQ_PREFIX = "mercado.dlq."
MAX_ERROR_HEADER_BYTES = 1000


@dataclass
class DeadLetter:
    """A refused message: where from (topic, partition, offset; its key, value and headers), why (reason,
    error). The sink also records the record's type and JSON when it decoded, and whether the dead-letter
    topic acknowledged it already (``sent``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    reason: str
    error: str
    record_type: str | None = None
    record_json: str | None = None  # the decoded record, when it decoded
    sent: bool = False  # already acknowledged by the dead-letter topic

    @classmethod
    def refused(cls, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                headers: Any, error: Refused) -> DeadLetter:
        """The dead letter of a message refused with ``error`` (a :class:`Refused`: DecodeError, admission)."""
        return cls(topic, partition, offset, key, value, list(headers or []), error.reason, error.message)

    @classmethod
    def of_message(cls, msg: Any, reason: str, error: str, record_type: str | None = None,
                   record_json: str | None = None) -> DeadLetter:
        """The dead letter of a confluent-kafka message."""
        return cls(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), msg.headers(), reason, error,
                   record_type, record_json)

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """The ``mercado.dlq.*`` headers, then the original message's."""
        headers = [
            (DLQ_PREFIX + "reason", self.reason.encode()),
            (DLQ_PREFIX + "error", self.error.encode()[:MAX_ERROR_HEADER_BYTES]),
            (DLQ_PREFIX + "topic", self.topic.encode()),
            (DLQ_PREFIX + "partition", str(self.partition).encode()),
            (DLQ_PREFIX + "offset", str(self.offset).encode()),
            (DLQ_PREFIX + "at-us", str(time.time_ns() // 1000).encode()),
        ]
        return headers + list(self.headers or [])

    def kafka_record(self) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
        """(value, key, headers) of the record to produce on the dead-letter topic."""
        return self.value or b"", self.key, self.kafka_headers()
