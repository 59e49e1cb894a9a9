"""The one partitioner (processors/partitioning.py): Kafka's default for keyed records.

The broker's own placement is checked in tests/integration/test_partitioning_kafka.py."""

from __future__ import annotations

import random

import pytest

from processors.partitioning import murmur2, partition_of
from streams.config import Settings
from streams.kafka.clients import producer_config

# from Apache Kafka's UtilsTest.testMurmur2
KAFKA_VECTORS = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
                 b"a-little-bit-longer-string": -1486304829,
                 b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}


def test_murmur2_matches_kafkas_test_vectors() -> None:
    assert {k: murmur2(k) for k in KAFKA_VECTORS} == KAFKA_VECTORS


def test_a_partition_is_the_positive_hash_modulo_the_partition_count() -> None:
    # Utils.toPositive(murmur2(key)) % partitions, as the Java client's default partitioner does for a key
    for key, h in KAFKA_VECTORS.items():
        for n in (1, 2, 3, 7, 12, 100):
            assert partition_of(key.decode(), n) == (h & 0x7FFFFFFF) % n
    assert [partition_of("21", n) for n in (3, 7, 12)] == [0, 3, 0]  # 1173551340
    assert [partition_of("foobar", n) for n in (3, 7, 12)] == [0, 0, 6]  # 1357151166
    assert [partition_of("binance", n) for n in (3, 7, 12)] == [2, 3, 11]


def test_keys_are_hashed_as_utf8_and_agree_with_another_implementation() -> None:
    aiokafka_partitioner = pytest.importorskip("aiokafka.partitioner")
    rng = random.Random(19)
    alphabet = "abcXYZ019:/-_ ñé€中"
    keys = ["", "a", "ab", "abc", "abcd", "setfx:USD/COP", "falabella:SKU-1"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(500)
    ]
    for key in keys:
        data = key.encode()
        assert murmur2(data) & 0xFFFFFFFF == aiokafka_partitioner.murmur2(data)  # aiokafka: unsigned
        for n in (3, 7):
            assert partition_of(key, n) == (aiokafka_partitioner.murmur2(data) & 0x7FFFFFFF) % n


def test_every_producer_is_configured_with_the_java_compatible_partitioner() -> None:
    # librdkafka's default (consistent_random) is crc32: in-process placement would then differ from the broker's
    assert producer_config(Settings())["partitioner"] == "murmur2_random"
