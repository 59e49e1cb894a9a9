"""Through the real broker: produce files, read them back, dead letters, topic creation, the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.ingest.producer import BadRowError, FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import TopicSpec
from streams.kafka.clients import producer_config
from streams.kafka.consumer import DeadLetterQueue, EventConsumer, end_offsets, fetch_ready
from streams.kafka.dead_letters import DLQ_PREFIX

pytestmark = pytest.mark.kafka

TICKS = "md.ticks.v1"


def _tick(i: int, venue: str = "kraken", symbol: str = "ETH/USDT") -> dict:
    return {
        "event_id": f"{venue}:{symbol}:{i}",
        "event_time": f"2026-11-20T00:00:{i % 60:02d}.{i:06d}Z",
        "venue": venue,
        "symbol": symbol,
        "bid": 3000.0 + i,
        "ask": 3000.5 + i,
        "last": 3000.25 + i,
        "volume": 0.5,
        "sequence": i,
    }


def _read_back(settings: Settings, topics: list[str], before: dict) -> list:
    with EventConsumer(settings, [settings.topic(t) for t in topics], start_offsets=before) as consumer:
        return list(consumer.iterate(idle_timeout=20))


def test_jsonl_round_trip_is_exact(kafka: Settings, tmp_path: Path) -> None:
    rows = [_tick(i, venue=v) for i in range(1, 301) for v in ("kraken", "binance")]
    path = tmp_path / "ticks.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    before = end_offsets(kafka, [kafka.topic(TICKS)])
    report = FileProducer(kafka, TICKS).produce_file(path)
    assert report.produced == 600 and report.rejected == 0
    events = _read_back(kafka, [TICKS], before)
    assert len(events) == 600
    by_id = {e.record["event_id"]: e for e in events}
    assert len(by_id) == 600
    e = by_id["binance:ETH/USDT:7"]
    assert e.key == "binance:ETH/USDT"
    assert e.record["event_time"] == 1_795_132_807_000_007  # 2026-11-20T00:00:07.000007Z
    assert e.timestamp_ms == 1_795_132_807_000  # Kafka timestamp = event time
    assert e.record["last"] == 3007.25
    # One key, one partition, in file order.
    for key in ("kraken:ETH/USDT", "binance:ETH/USDT"):
        mine = [ev for ev in events if ev.key == key]
        assert len({ev.partition for ev in mine}) == 1
        assert [ev.record["sequence"] for ev in mine] == list(range(1, 301))


def test_parquet_column_wise_and_row_by_row_give_the_same_messages(kafka: Settings, tmp_path: Path) -> None:
    """Integer event times: whole batches are encoded column-wise; ISO-text event times need
    conversion, so the same ticks go row by row. Both give the same values, keys and timestamps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from streams.codec.coerce import timestamp_micros
    from streams.codec.columnar import ColumnarEncoder

    text_rows = [_tick(i, venue=v) for i in range(1, 1001) for v in ("okx", "bybit")]
    int_rows = [{**r, "event_time": timestamp_micros(r["event_time"])} for r in text_rows]
    fast, slow = tmp_path / "fast.parquet", tmp_path / "slow.parquet"
    pq.write_table(pa.Table.from_pylist(int_rows), fast, row_group_size=300)
    pq.write_table(pa.Table.from_pylist(text_rows), slow, row_group_size=300)
    producer = FileProducer(kafka, TICKS)
    assert isinstance(producer.types["PriceTick"].columnar, ColumnarEncoder)
    assert producer.encode_batch(pq.ParquetFile(fast).read_row_group(0).to_batches()[0]) is not None
    assert producer.encode_batch(pq.ParquetFile(slow).read_row_group(0).to_batches()[0]) is None
    before = end_offsets(kafka, [kafka.topic(TICKS)])
    seen: list[tuple[int, int]] = []
    report = producer.produce_file(fast, progress=lambda done, total: seen.append((done, total)))
    assert report.produced == 2000 and report.rejected == 0
    assert seen[-1] == (2000, 2000)
    middle = end_offsets(kafka, [kafka.topic(TICKS)])
    assert FileProducer(kafka, TICKS).produce_file(slow).produced == 2000
    both = _read_back(kafka, [TICKS], before)
    first = [e for e in both if e.offset < middle[(e.topic, e.partition)]]
    second = [e for e in both if e.offset >= middle[(e.topic, e.partition)]]
    assert len(first) == len(second) == 2000

    def messages(events: list) -> list:
        return sorted((e.key, e.partition, e.timestamp_ms, e.schema.name, sorted(e.record.items())) for e in events)

    assert messages(first) == messages(second)
    assert [e.record for e in first if e.key == "okx:ETH/USDT"] == [
        {**r, "backfill_id": None} for r in int_rows if r["venue"] == "okx"
    ]


def test_same_file_twice_is_seen_as_duplicates_by_event_id(kafka: Settings, tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(_tick(1)))
        w.writeheader()
        for i in range(1, 51):
            w.writerow(_tick(i, venue="coinbase"))
    before = end_offsets(kafka, [kafka.topic(TICKS)])
    FileProducer(kafka, TICKS).produce_file(path)
    FileProducer(kafka, TICKS).produce_file(path)
    events = _read_back(kafka, [TICKS], before)
    ids = [e.record["event_id"] for e in events]
    assert len(ids) == 100 and len(set(ids)) == 50
    first = {e.record["event_id"]: e.record for e in events[:50]}
    assert all(first.get(e.record["event_id"], e.record) == e.record for e in events)


def test_rows_without_event_id_get_the_same_content_id_each_time(kafka: Settings, tmp_path: Path) -> None:
    rows = [{k: v for k, v in _tick(i, venue="bitstamp").items() if k != "event_id"} for i in range(1, 11)]
    path = tmp_path / "noid.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    before = end_offsets(kafka, [kafka.topic(TICKS)])
    FileProducer(kafka, TICKS).produce_file(path)
    FileProducer(kafka, TICKS).produce_file(path)
    ids = [e.record["event_id"] for e in _read_back(kafka, [TICKS], before)]
    assert len(ids) == 20 and len(set(ids)) == 10
    assert all(len(i) == 32 for i in ids)


def test_order_lifecycle_shares_one_topic_and_keeps_order(kafka: Settings, tmp_path: Path) -> None:
    base = {"account": "mm-1", "venue": "binance", "symbol": "BTC/USDT", "client_order_id": "c-1"}
    rows = [
        {
            "type": "OrderSubmitted",
            "event_id": "c-1:submitted:1",
            "event_time": "2026-11-20T01:00:00Z",
            "side": "BUY",
            "order_type": "LIMIT",
            "price": "91000.5",
            "quantity": "0.002",
            **base,
        },
        {
            "type": "OrderAccepted",
            "event_id": "c-1:accepted:1",
            "event_time": "2026-11-20T01:00:00.040Z",
            "venue_order_id": "v-9",
            "ack_latency_ms": 40.0,
            **base,
        },
        {
            "type": "OrderFilled",
            "event_id": "c-1:filled:1",
            "event_time": "2026-11-20T01:00:03Z",
            "venue_order_id": "v-9",
            "trade_id": "t-1",
            "side": "BUY",
            "fill_price": "91000.5",
            "fill_quantity": "0.002",
            "fee": "-0.0182001",
            "fee_currency": "USDT",
            "liquidity": "MAKER",
            **base,
        },
    ]
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    before = end_offsets(kafka, [kafka.topic("trading.orders.v1")])
    report = FileProducer(kafka, "trading.orders.v1").produce_file(path)
    assert report.by_schema == {"OrderSubmitted": 1, "OrderAccepted": 1, "OrderFilled": 1}
    events = _read_back(kafka, ["trading.orders.v1"], before)
    assert [e.schema.name for e in events] == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    from decimal import Decimal

    assert events[2].record["fee"] == Decimal("-0.0182001")
    assert events[2].record["liquidity"] == "MAKER"


def test_bad_row_stops_with_file_line_and_field(kafka: Settings, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    rows = [orjson.dumps(_tick(i)) for i in range(1, 4)]
    rows.insert(2, orjson.dumps({**_tick(9), "bid": "not-a-price"}))
    path.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(BadRowError) as info:
        FileProducer(kafka, TICKS).produce_file(path)
    assert info.value.line == 3
    assert str(info.value) == f"{path}:3: field 'bid': expected a number, got 'not-a-price' (str)"
    assert info.value.produced == 2


def test_undecodable_messages_go_to_the_dead_letter_topic(kafka: Settings) -> None:
    topics = [TICKS, "mercado.deadletter.v1"]
    before = end_offsets(kafka, [kafka.topic(t) for t in topics])
    good = AvroSerde().encode("PriceTick", {**_tick(5, venue="dlqtest"), "event_time": 5})
    garbage = [b"\xc3\x01" + bytes(8) + b"junk", b"hello world", b"\xc3\x01\x00"]
    raw = Producer(producer_config(kafka))
    for g in garbage:
        raw.produce(kafka.topic(TICKS), g, b"dlqtest:ETH/USDT", headers=[("origin", b"fuzzer")])
    raw.produce(kafka.topic(TICKS), good, b"dlqtest:ETH/USDT")
    assert raw.flush(30) == 0
    dlq = DeadLetterQueue(kafka)
    with EventConsumer(kafka, [kafka.topic(TICKS)], start_offsets=before, dead_letters=dlq) as consumer:
        events = list(consumer.iterate(idle_timeout=20))
        rejected = consumer.rejected
    assert [e.record["event_id"] for e in events] == ["dlqtest:ETH/USDT:5"]
    assert [r.reason for r in rejected] == ["unknown_fingerprint", "bad_magic", "truncated"]
    from confluent_kafka import Consumer, TopicPartition

    from streams.kafka.clients import consumer_config

    c = Consumer(consumer_config(kafka, kafka.kafka.topic_prefix + "dlq-reader"))
    dead_letters = kafka.topic("mercado.deadletter.v1")
    c.assign([TopicPartition(dead_letters, p, before[(dead_letters, p)]) for p in range(3)])
    got = []
    while True:
        msgs = fetch_ready(c, 100, 5)
        got += [m for m in msgs if m.error() is None]
        if len(got) >= 3 or not msgs:
            break
    c.close()
    assert sorted(m.value() for m in got) == sorted(garbage)
    for m in got:
        headers = dict(m.headers())
        assert headers[DLQ_PREFIX + "topic"] == kafka.topic(TICKS).encode()
        assert headers[DLQ_PREFIX + "reason"] in (b"unknown_fingerprint", b"bad_magic", b"truncated")
        assert (
            int(headers[DLQ_PREFIX + "offset"]) >= before[(kafka.topic(TICKS), int(headers[DLQ_PREFIX + "partition"]))]
        )
        assert headers["origin"] == b"fuzzer"
        assert m.key() == b"dlqtest:ETH/USDT"


def test_topics_create_is_idempotent_and_reports_differences(kafka: Settings) -> None:
    fresh = kafka.with_({"kafka__topic_prefix": f"{kafka.kafka.topic_prefix}t{time.time_ns() % 10**12}.idem."})
    assert {s.action for s in ensure_topics(fresh)} == {"created"}
    assert {s.action for s in ensure_topics(fresh)} == {"exists"}
    kafka = kafka.with_({"kafka__topic_retention_ms": None})  # the catalog's own retention
    odd = TopicSpec("test.drift.v1", ("PriceTick",), ("venue",), "drift check", partitions=2)
    ensure_topics(kafka, (odd,))
    [state] = ensure_topics(
        kafka, (TopicSpec("test.drift.v1", ("PriceTick",), ("venue",), "drift", partitions=4, retention_ms=1000),)
    )
    assert state.action == "differs"
    assert state.detail == "partitions 2 (catalog 4); retention.ms=2592000000 (catalog 1000)"


# ------------------------------------------------------------------ the CLI, as a user runs it
def _mercado(*args: str, env_settings: Settings) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.commands.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        env={  # the session's broker and topic prefix: never the shared catalog topics
            **os.environ,
            "MERCADO_KAFKA_BOOTSTRAP": env_settings.bootstrap(),
            "MERCADO_KAFKA__TOPIC_PREFIX": env_settings.kafka.topic_prefix,
        },
    )


def test_cli_bad_row_error_and_exit_status(kafka: Settings, tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(_tick(1)))
        w.writeheader()
        w.writerow(_tick(1, venue="cli"))
        w.writerow({**_tick(2, venue="cli"), "sequence": "two"})
    proc = _mercado("produce", TICKS, str(path), env_settings=kafka)
    assert proc.returncode == 1
    assert f"{path}:3: field 'sequence': expected an integer (long), got 'two' (str)" in " ".join(proc.stderr.split())


def test_cli_skip_bad_writes_exactly_the_bad_rows(kafka: Settings, tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    rejects = tmp_path / "rejects.csv"
    good = [_tick(i, venue="cliskip") for i in range(1, 8)]
    bad = {3: {**_tick(103, venue="cliskip"), "bid": "x"}, 6: {**_tick(106, venue="cliskip"), "sequence": ""}}
    rows = list(good)
    for pos, row in sorted(bad.items()):
        rows.insert(pos, row)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(_tick(1)))
        w.writeheader()
        w.writerows(rows)
    before = end_offsets(kafka, [kafka.topic(TICKS)])
    proc = _mercado("produce", TICKS, str(path), "--skip-bad", str(rejects), env_settings=kafka)
    assert proc.returncode == 1, proc.stderr
    assert "7 events produced" in proc.stdout and "2 rejected" in proc.stdout
    lines = path.read_text().splitlines()
    assert rejects.read_text().splitlines() == [lines[0], lines[1 + 3], lines[1 + 6]]
    ids = sorted(e.record["event_id"] for e in _read_back(kafka, [TICKS], before))
    assert ids == sorted(r["event_id"] for r in good)


def test_cli_consume_prints_json(kafka: Settings, tmp_path: Path) -> None:
    path = tmp_path / "hb.jsonl"
    # 2026-11-20: an event time in 1970 is refused at the door (before the admission floor)
    hb = {"type": "Heartbeat", "event_id": "hb:x:1", "event_time": 1_795_132_800_000_000, "source": "clihb:X"}
    path.write_text(json.dumps(hb) + "\n")
    assert _mercado("produce", TICKS, str(path), env_settings=kafka).returncode == 0
    proc = _mercado("consume", TICKS, "--from-beginning", "--json", env_settings=kafka)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    mine = [d for d in docs if d["key"] == "clihb:X"]
    assert mine and mine[-1]["value"] == {k: v for k, v in hb.items() if k != "type"}
    assert mine[-1]["schema"] == "Heartbeat"


def test_cli_unknown_topic_is_a_clear_error(kafka: Settings, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    proc = _mercado("produce", "md.tickz.v1", str(path), env_settings=kafka)
    assert proc.returncode == 1
    assert "unknown topic 'md.tickz.v1'" in proc.stderr and "Traceback" not in proc.stderr


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
