"""A generated market day through the real broker: every file produced and consumed back, exactly."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas import load_schemas
from streams.codec.coerce import record_coercer
from streams.config import Settings
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import topic
from streams.kafka.consumer import EventConsumer, end_offsets

pytestmark = pytest.mark.kafka


def _plain(value: object) -> str:
    # Decimals compare by value: the file says "64123.5", the wire's scale-12 decimal "64123.500000000000".
    return str(value.normalize()) if isinstance(value, Decimal) else str(value)


def _canonical(record: dict) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=_plain)


def _expected(path: Path, topic_name: str) -> tuple[int, str]:
    """Count and order-independent content digest of a file's rows as the contracts read them."""
    spec = topic(topic_name)
    schemas = load_schemas()
    coercers = {n: record_coercer(schemas[n], ignore=frozenset({"type"})) for n in spec.schemas}
    digests = []
    for line in path.open("rb"):
        row = orjson.loads(line)
        name = row.get("type") or spec.schemas[0]
        row.pop("type", None)
        digests.append(hashlib.sha256(name.encode() + _canonical(coercers[name](row))).hexdigest())
    return len(digests), hashlib.sha256("".join(sorted(digests)).encode()).hexdigest()


def test_generated_day_round_trip_is_exact(services: Settings, generated_days) -> None:
    settings = services.with_({"kafka__topic_prefix": f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.day."})
    ensure_topics(settings)
    # the session's full day (tests/conftest.py: made once, shared); each domain's files do not depend on the others
    day_dir = generated_days(42, dt.date(2026, 11, 20))[0]
    names = ["md.ticks.v1", "retail.listings.v1", "trading.orders.v1", "trading.venue-health.v1"]
    physical = {settings.topic(n): n for n in names}
    before = end_offsets(settings, list(physical))
    for name in names:
        report = FileProducer(settings, name).produce_file(day_dir / f"{name}.jsonl")
        assert report.rejected == 0
    got: dict[str, list[str]] = {n: [] for n in names}
    with EventConsumer(settings, list(physical), start_offsets=before) as consumer:
        for ev in consumer.iterate(idle_timeout=30):
            record = {k: v for k, v in ev.record.items()}
            got[physical[ev.topic]].append(
                hashlib.sha256(ev.schema.name.encode() + _canonical(record)).hexdigest()
            )
    for name in names:
        count, digest = _expected(day_dir / f"{name}.jsonl", name)
        assert len(got[name]) == count, name
        assert hashlib.sha256("".join(sorted(got[name])).encode()).hexdigest() == digest, name
