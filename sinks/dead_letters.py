"""Messages the sink cannot write: undecodable, of an unmapped record type, or rejected by the database.

Each one goes to the table ``mercado_dead_letters`` (in the batch's transaction, so exactly once) and
to the dead-letter topic (before that transaction commits, so at least once), with the headers of
``streams.kafka.consumer`` (``mercado.dlq.reason``, ``…error``, ``…topic``, ``…partition``, ``…offset``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from confluent_kafka import KafkaError, Message, Producer

from streams.config import Settings
from streams.kafka.catalog import DEAD_LETTER_TOPIC
from streams.kafka.clients import producer_config
from streams.kafka.consumer import DLQ_PREFIX

UNDECODABLE_PREFIX = "undecodable:"  # + DecodeError.reason
UNMAPPED_RECORD = "unmapped_record"
REJECTED_BY_DATABASE = "rejected_by_database"
MAX_ERROR_CHARS = 2000


class DeadLetterDeliveryError(RuntimeError):
    """The dead-letter topic did not acknowledge every message (the batch is retried)."""


def clean_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; keep errors readable and bounded."""
    return text.replace("\x00", "\\x00")[:MAX_ERROR_CHARS]


@dataclass
class DeadLetter:
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
    def of(
        cls, msg: Message, reason: str, error: str, record_type: str | None = None, record_json: str | None = None
    ) -> DeadLetter:
        return cls(
            msg.topic(),
            msg.partition(),
            msg.offset(),
            msg.key(),
            msg.value(),
            msg.headers(),
            reason,
            clean_text(error),
            record_type,
            record_json,
        )

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        headers = [
            (DLQ_PREFIX + "reason", self.reason.encode()),
            (DLQ_PREFIX + "error", self.error.encode()[:1000]),
            (DLQ_PREFIX + "topic", self.topic.encode()),
            (DLQ_PREFIX + "partition", str(self.partition).encode()),
            (DLQ_PREFIX + "offset", str(self.offset).encode()),
            (DLQ_PREFIX + "at-us", str(time.time_ns() // 1000).encode()),
        ]
        return headers + list(self.headers or [])

    def table_row(self, group: str) -> tuple[Any, ...]:
        return (
            self.topic,
            self.partition,
            self.offset,
            self.key,
            self.value,
            self.reason,
            self.error,
            self.record_type,
            self.record_json,
            group,
        )


INSERT_DEAD_LETTERS = """
INSERT INTO mercado_dead_letters
    (topic, partition, "offset", message_key, message_value, reason, error, record_type, record, consumer_group)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
ON CONFLICT (topic, partition, "offset") DO NOTHING
"""


async def insert_dead_letters(conn: asyncpg.Connection, letters: list[DeadLetter], group: str) -> None:
    if letters:
        await conn.executemany(INSERT_DEAD_LETTERS, [letter.table_row(group) for letter in letters])


class DeadLetterTopic:
    """Produces dead letters to ``mercado.deadletter.v1`` (with the settings' topic prefix)."""

    def __init__(self, settings: Settings, producer: Producer | None = None, timeout_s: float = 30.0):
        self.topic = settings.topic(DEAD_LETTER_TOPIC)
        self.producer = producer or Producer(producer_config(settings))
        self.timeout_s = timeout_s

    def send(self, letters: list[DeadLetter]) -> None:
        """Produces the letters not sent yet and waits for the broker's acknowledgements."""
        pending = [letter for letter in letters if not letter.sent]
        if not pending:
            return
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        for letter in pending:
            self.producer.produce(
                self.topic, letter.value or b"", letter.key, headers=letter.kafka_headers(), on_delivery=delivered
            )
        remaining = self.producer.flush(self.timeout_s)
        if remaining or failures:
            raise DeadLetterDeliveryError(
                f"{self.topic}: {remaining} dead letter(s) unacknowledged after {self.timeout_s:.0f} s"
                + (f"; {failures[0]}" if failures else "")
            )
        for letter in pending:
            letter.sent = True

    def close(self) -> None:
        self.producer.flush(self.timeout_s)
