"""Messages the sink cannot write: undecodable, of an unmapped record type, or rejected by the database.

Each one goes to the table ``mercado_dead_letters`` (in the batch's transaction, so exactly once) and
to the dead-letter topic (before that transaction commits, so at least once), as the shared
:class:`streams.kafka.dead_letters.DeadLetter` writes one (``mercado.dlq.reason``, ``…error``, ``…topic``,
``…partition``, ``…offset``).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from confluent_kafka import KafkaError, Message, Producer

from streams.config import Settings
from streams.kafka.catalog import DEAD_LETTER_TOPIC
from streams.kafka.clients import producer_config
from streams.kafka.dead_letters import DeadLetter

UNDECODABLE_PREFIX = "undecodable:"  # + DecodeError.reason
UNMAPPED_RECORD = "unmapped_record"
REJECTED_BY_DATABASE = "rejected_by_database"
MAX_ERROR_CHARS = 2000


class DeadLetterDeliveryError(RuntimeError):
    """The dead-letter topic did not acknowledge every message (the batch is retried)."""


def clean_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; keep errors readable and bounded."""
    return text.replace("\x00", "\\x00")[:MAX_ERROR_CHARS]


def dead_letter(
    msg: Message, reason: str, error: str, record_type: str | None = None, record_json: str | None = None
) -> DeadLetter:
    """The sink's dead letter of ``msg``: the shared type, its error made storable (:func:`clean_text`)."""
    return DeadLetter.of_message(msg, reason, clean_text(error), record_type, record_json)


def table_row(letter: DeadLetter, group: str) -> tuple[Any, ...]:
    return (
        letter.topic,
        letter.partition,
        letter.offset,
        letter.key,
        letter.value,
        letter.reason,
        letter.error,
        letter.record_type,
        letter.record_json,
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
        await conn.executemany(INSERT_DEAD_LETTERS, [table_row(letter, group) for letter in letters])


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
            value, key, headers = letter.kafka_record()
            self.producer.produce(self.topic, value, key, headers=headers, on_delivery=delivered)
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
