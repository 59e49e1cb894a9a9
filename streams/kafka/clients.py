"""Configuration of confluent-kafka clients, shared by every Mercado process."""

from __future__ import annotations

from typing import Any

from streams.config import Settings


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer: retries never duplicate or reorder within a partition.

    ``murmur2_random`` is the Java client's partitioner (aiokafka/faust use it too), so one key maps
    to one partition number whatever client produced it.
    """
    cfg: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap(),
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": settings.kafka.producer_linger_ms,
        "batch.size": settings.kafka.producer_batch_bytes,
        "compression.type": settings.kafka.producer_compression,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "socket.nagle.disable": True,  # TCP_NODELAY, as the Java clients and the broker set it
    }
    cfg.update(overrides)
    return cfg


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "socket.nagle.disable": True,  # TCP_NODELAY: no Nagle delay on small fetch/commit requests
    }
    cfg.update(overrides)
    return cfg


# A reader of partitions to their end (enable.partition.eof): a fetch at a partition's end is answered after
# this long, so the end is known at once rather than after librdkafka's default 500 ms (fetch.wait.max.ms),
# which every read to the end waited once. Its price is a fetch request every 10 ms while there is nothing new.
END_FETCH_WAIT_MS = 10


def end_reader_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer that reads partitions to their end: end-of-partition events, and the end known at once.
    Loops on it take what is ready (:func:`streams.kafka.consumer.fetch_ready`), not ``consume(n, timeout)``,
    which waits the whole timeout whenever fewer than ``n`` messages are left."""
    return consumer_config(settings, group_id, **{"enable.partition.eof": True,
                                                  "fetch.wait.max.ms": END_FETCH_WAIT_MS, **overrides})


def committed_reader_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer that only reads a group's committed offsets (progress, lag), never subscribes.

    read_uncommitted, because a read_committed consumer asks for stable offsets (KIP-447's require_stable)
    and its ``committed()`` waits, retrying, while the group has offsets pending in an open transaction. A
    transactional worker that commits every 0.1 s almost always has some, so such a call timed out (10 s,
    seen in the risk ``kill -9`` test). Both return the offsets of the last committed transaction."""
    return consumer_config(settings, group_id, **{"isolation.level": "read_uncommitted", **overrides})


def admin_config(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.bootstrap()}
