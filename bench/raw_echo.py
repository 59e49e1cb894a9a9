"""The raw baseline of ``bench.marketdata_live``: what a hand-written confluent-kafka + fastavro loop does.

:class:`RawCodec` decodes a message exactly as the project's serde does (single-object header lookup,
wire schema with integer timestamps, no reader schema) and re-encodes the record with its header.

``python -m bench.raw_echo --source T --out T2`` is the latency baseline's process: it consumes ``T``
(read_committed, from the beginning), decodes and re-encodes every message and produces it to ``T2``
with the same key and the input's timestamp (the feed producer's create time), with linger 1 ms as the
native worker's producer. No processing, no state, no transactions: two hops through the broker and
one process in between, the least any pipeline from a tick to a derived event must pay. It runs until
SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import time
from io import BytesIO
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from fastavro import schemaless_reader, schemaless_writer

from streams.codec.serde import SINGLE_OBJECT_MAGIC, AvroSerde
from streams.config import get_settings
from streams.kafka.clients import consumer_config, producer_config
from streams.kafka.consumer import fetch_ready as fetch  # re-exported: the live benches import it from here


class RawCodec:
    """Decode + re-encode one single-object Avro message with fastavro, nothing else."""

    def __init__(self) -> None:
        serde = AvroSerde()
        self.by_header = {
            SINGLE_OBJECT_MAGIC + sc.fingerprint_bytes: (SINGLE_OBJECT_MAGIC + sc.fingerprint_bytes, sc.wire)
            for sc in serde.schemas
        }

    def reencode(self, value: bytes) -> bytes:
        header, wire = self.by_header[value[:10]]
        buf = BytesIO(value)
        buf.seek(10)
        record = schemaless_reader(buf, wire, None)
        ob = BytesIO()
        ob.write(header)
        schemaless_writer(ob, wire, record)
        return ob.getvalue()


def echo(source: str, out: str, group: str) -> None:
    s = get_settings()
    stop = False

    def on_term(_signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    codec = RawCodec()
    consumer = Consumer(consumer_config(s, group))
    producer = Producer(producer_config(s, **{"linger.ms": 1}))
    parts = consumer.list_topics(source, timeout=10).topics[source].partitions
    consumer.assign([TopicPartition(source, p, OFFSET_BEGINNING) for p in parts])
    produce, reencode = producer.produce, codec.reencode
    while not stop:
        for msg in fetch(consumer):
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"consumer error: {msg.error().str()}")
            value = reencode(msg.value())
            try:
                produce(out, value, msg.key(), timestamp=msg.timestamp()[1])
            except BufferError:
                producer.poll(0.05)
                produce(out, value, msg.key(), timestamp=msg.timestamp()[1])
        producer.poll(0)
    producer.flush(10)
    consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--group", default=f"bench-raw-echo-{time.time_ns()}")
    args = parser.parse_args()
    echo(args.source, args.out, args.group)


if __name__ == "__main__":
    main()
