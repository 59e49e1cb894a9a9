"""Section ``kafka`` of the settings (``MERCADO_KAFKA__*``): how Mercado names and uses its topics, and its
producers' tuning. The broker's address is ``MERCADO_KAFKA_BOOTSTRAP`` (``streams/config.py``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KafkaSettings(BaseModel):
    schema_registry_url: str | None = Field(
        default=None, description="Confluent schema registry; when set, producers use the Confluent framing."
    )
    # Prepended to every topic name (and consumer group) this process uses: isolates test runs or
    # tenants on one cluster. Catalog and processors keep the logical names.
    topic_prefix: str = ""
    # Overrides every catalog topic's retention.ms when topics are created (-1: keep forever). Kafka
    # measures retention on message timestamps, which Mercado sets to event time: a day generated for
    # an older date would be deleted as soon as it is written. The demo and the tests use -1.
    topic_retention_ms: int | None = None
    # Producer tuning (confluent-kafka / librdkafka).
    # 5 ms is librdkafka's and the Java client's default: at 10,000 ticks/s a batch still holds ~50
    # records, and a tick waits at most 5 ms in the feed (20 ms took half the live latency budget).
    producer_linger_ms: int = 5
    producer_batch_bytes: int = 1_000_000
    producer_compression: str = "lz4"
    # State changelogs (compacted): a segment is compacted only once it is closed, and Kafka closes one
    # after 1 GiB or 7 days by default, so a restore would read up to a week of every key's history.
    # Rolled hourly, with the cleaner starting once half a partition is history, a restore reads at most
    # about twice the state plus the last hour (bench.recovery measures it as history grows).
    changelog_segment_ms: int = Field(default=3_600_000, ge=1_000)
    changelog_min_cleanable_dirty_ratio: float = Field(default=0.5, gt=0.0, lt=1.0)

    def changelog_config(self) -> dict[str, str]:
        """Topic configs of every state changelog, whichever engine creates it."""
        return {
            "segment.ms": str(self.changelog_segment_ms),
            "min.cleanable.dirty.ratio": str(self.changelog_min_cleanable_dirty_ratio),
        }

    def topic(self, name: str) -> str:
        """The physical Kafka topic of a logical catalog name."""
        return self.topic_prefix + name
