"""The sha256 of every output topic of every pipeline for a generated day, replayed through Kafka.

A refactoring that claims "no change of behaviour" runs this before and after: the generated day
(seed 42, 2026-11-20) is produced into fresh topics, each pipeline is replayed from them with
``mercado replay``'s code path, and each output topic's records (topic, key, timestamp, value bytes,
in output order) are hashed — DataQuality records without their ingest latencies, which measure the
wall clock of this run's produce. Last line: one JSON object {pipeline/topic: [records, sha256]}.

    python -m bench.outputs_digest
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson

from processors import topics
from streams.config import get_settings
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.generator import generate_day
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.consumer import default_serde
from streams.runtime.pipelines import PIPELINES, build_stages

INPUT_FILES = (topics.TICKS, topics.LISTINGS, topics.ORDERS, topics.VENUE_HEALTH)


class _Digest:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.hashes: dict[str, hashlib._Hash] = {}
        self.counts: dict[str, int] = {}

    def write(self, outputs: list) -> None:
        for o in outputs:
            name = o.topic.removeprefix(self.prefix)  # the same names whatever the run's topic prefix
            h = self.hashes.get(name)
            if h is None:
                h = self.hashes[name] = hashlib.sha256()
                self.counts[name] = 0
            if o.emit.schema == "DataQuality":  # its ingest latencies come from the wall clock of the produce
                fields = {k: v for k, v in o.emit.record.items() if not k.startswith("latency_")}
                h.update(orjson.dumps([name, o.key, o.timestamp_ms, fields], option=orjson.OPT_SORT_KEYS))
            else:
                h.update(orjson.dumps([name, o.key, o.timestamp_ms]) + o.value)
            self.counts[name] += 1

    def close(self) -> dict[str, int]:
        return dict(self.counts)


def main() -> None:
    settings = get_settings()
    settings = settings.with_({"kafka__topic_prefix": f"bench.digest.{time.time_ns() % 10**12}."})
    ensure_topics(settings)
    serde = default_serde(settings)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate_day(out, 42, date(2026, 11, 20))
        for name in INPUT_FILES:
            FileProducer(settings, name).produce_file(out / f"{name}.jsonl")
    result: dict[str, list] = {}
    for pipeline in sorted(PIPELINES):
        stages = build_stages(pipeline, settings)
        reader = KafkaRangeReader(settings, [settings.topic(t) for t in stages[0].inputs], None, None, serde)
        sink = _Digest(settings.kafka.topic_prefix)
        report = run_replay(iter(reader), stages, serde, sink)
        reader.close()
        for topic_name, h in sorted(sink.hashes.items()):
            result[f"{pipeline}/{topic_name}"] = [sink.counts[topic_name], h.hexdigest()]
        print(f"{pipeline}: {report.inputs:,} inputs, {report.rejected} rejected", file=sys.stderr)
    for key, (n, digest) in result.items():
        print(f"{key:60} {n:>9,} {digest}", file=sys.stderr)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
