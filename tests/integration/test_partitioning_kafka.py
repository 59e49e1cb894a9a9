"""The partition a keyed message lands in on the broker is :func:`processors.partitioning.partition_of`'s."""

from __future__ import annotations

import random
import time

import pytest

from processors.partitioning import partition_of


@pytest.mark.kafka
def test_partitions_match_the_brokers_placement(services) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka import Producer

    from streams.kafka.admin import ensure_topics
    from streams.kafka.catalog import TopicSpec
    from streams.kafka.clients import producer_config

    rng = random.Random(19)
    keys = ["binance", "kraken", "coinbase", "okx", "bybit", "bitstamp", "mm-1:binance:BTC/USDT", "setfx:USD/COP",
            "falabella:SKU-123", "ñandú:€", "中文"]
    keys += ["".join(rng.choice("abcdefXYZ0123:/-") for _ in range(rng.randrange(1, 30))) for _ in range(200)]
    for partitions in (3, 7):
        name = f"test.partitions-{partitions}.{time.time_ns()}"
        ensure_topics(services, (TopicSpec(name, (), ("key",), "partition check", partitions=partitions),))
        placed: dict[str, int] = {}

        def report(err, msg, placed: dict[str, int] = placed) -> None:  # type: ignore[no-untyped-def]
            assert err is None
            placed[msg.key().decode()] = msg.partition()

        producer = Producer(producer_config(services))
        for key in keys:
            producer.produce(services.topic(name), b"x", key.encode(), on_delivery=report)
        assert producer.flush(30) == 0
        assert placed == {k: partition_of(k, partitions) for k in keys}
