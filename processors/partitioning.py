"""The one partitioner of Mercado: Kafka's default for keyed records (the Java client's murmur2).

Every Mercado producer uses it (``partitioner=murmur2_random`` in librdkafka, see
:func:`streams.kafka.clients.producer_config`; the default of aiokafka and faust), and everything that
places a key in-process uses :func:`partition_of` — the in-process pipelines (retail, risk), the replay
and both worker engines — so a key lands on the partition the broker would put it in:
``(murmur2(utf-8 key) & 0x7fffffff) % partitions``. (Records without a key are not placed here.)
"""

from __future__ import annotations

from struct import Struct

_WORDS = Struct("<I").iter_unpack  # little-endian 32-bit words, read by C (a third of the per-byte loop's cost)
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``, as a signed 32-bit integer."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length - length % 4
    for (k,) in _WORDS(data[:end]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` on a topic of ``partitions`` partitions."""
    if partitions == 1:  # (every key's; ``partitions`` < 1 is the caller's error, left to raise below)
        return 0
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
