"""The admission rules at the doors (issue #18): ``mercado produce`` and ``mercado backfill`` refuse a
far-future or pre-floor event time, a NaN/inf and a broken domain rule, naming the row, the field and
the bound; ``--skip-bad`` keeps the good rows going. Through the real broker, each test with its own
topic prefix."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streams.config import Settings
from streams.generator import FILES
from streams.ingest.backfill import run_backfill
from streams.ingest.producer import BadRowError, FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import topic
from streams.kafka.consumer import EventConsumer
from streams.kafka.headers import PRODUCED_AT_HEADER, is_marker

TICKS = "md.ticks.v1"
T0 = 1_795_132_800_000_000  # 2026-11-20T00:00:00Z
ROOT = Path(__file__).resolve().parents[2]
FIELDS = ["event_id", "event_time", "venue", "symbol", "bid", "ask", "last", "volume", "sequence"]


def _tick(i: int, **changes: Any) -> dict[str, Any]:
    price = 64_000.0 + i
    return {"event_id": f"binance:BTC/USDT:{i}", "event_time": f"2026-11-20T00:00:{i:02d}Z", "venue": "binance",
            "symbol": "BTC/USDT", "bid": price - 0.5, "ask": price + 0.5, "last": price, "volume": 0.25,
            "sequence": i, **changes}


def _fresh(services: Settings, name: str) -> Settings:
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.doors.{name}."  # under the session prefix
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings, (topic(TICKS),))
    return settings


def _read_all(settings: Settings) -> list[Any]:
    with EventConsumer(settings, [settings.topic(TICKS)], from_beginning=True) as consumer:
        return list(consumer.iterate(idle_timeout=10))


def _mercado(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MERCADO_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MERCADO_METRICS__PORT_PRODUCE": "0"}
    if settings.kafka_bootstrap:
        env["MERCADO_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
    return subprocess.run([sys.executable, "-m", "streams.commands.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def _ten_ticks_csv(path: Path, bad_at: int, bad: dict[str, Any]) -> list[str]:
    """Ten binance:BTC/USDT ticks, the one at index ``bad_at`` changed by ``bad``; returns the file's lines."""
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for i in range(10):
            w.writerow(_tick(i, **bad) if i == bad_at else _tick(i))
    return path.read_text().splitlines()


# ------------------------------------------------------------------------------ generated data passes
@pytest.fixture(scope="module")
def generated_day(generated_days) -> Path:  # tests/conftest.py: made once per session
    return generated_days(42, date(2026, 11, 20))[0]


class _NoProducer:
    def produce(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - never called
        raise AssertionError("no produce expected")


def test_every_row_of_a_generated_day_passes_the_door(generated_day: Path) -> None:
    """Every row of every input file, as ``mercado produce`` checks it (schema and admission), now."""
    settings = Settings(kafka_bootstrap="127.0.0.1:1")
    checked = {}
    for topic_name in FILES:
        producer = FileProducer(settings, topic_name, producer=_NoProducer())
        refused = []
        n = 0
        with (generated_day / f"{topic_name}.jsonl").open("rb") as fh:
            for line_no, line in enumerate(fh, 1):
                n += 1
                try:
                    producer.encode_row(orjson.loads(line))
                except ValueError as exc:
                    refused.append(f"{line_no}: {exc}")
        assert refused == [], f"{topic_name}: {len(refused)} refused, e.g. {refused[:3]}"
        checked[topic_name] = n
    assert all(checked.values()) and checked[TICKS] > 100_000, checked


def test_generated_ticks_in_parquet_keep_the_fast_path(generated_day: Path, tmp_path: Path) -> None:
    """The batch check admits real data (with null quotes), so Parquet batches stay column-wise."""
    from streams.codec.coerce import timestamp_micros

    rows = []
    with (generated_day / f"{TICKS}.jsonl").open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            if "type" not in row:  # ticks only (heartbeats are the other record type)
                rows.append({"backfill_id": None, "bid": None, "ask": None, "last": None, "volume": 0.0, **row,
                             "event_time": timestamp_micros(row["event_time"])})
            if len(rows) == 50_000:
                break
    table = pa.Table.from_pylist(rows)
    path = tmp_path / "ticks.parquet"
    pq.write_table(table, path)
    producer = FileProducer(Settings(kafka_bootstrap="127.0.0.1:1"), TICKS, producer=_NoProducer())
    batches = list(pq.ParquetFile(path).iter_batches(batch_size=65_536))
    assert all(producer.encode_batch(b) is not None for b in batches)


# ------------------------------------------------------------------------------ produce, through Kafka
CASES = {
    "far_future": ({"event_time": "2999-01-01T00:00:00Z"}, "event_time",
                   "2999-01-01T00:00:00Z is ", "s ahead of the time it was produced", "bound 300 s)"),
    "before_floor": ({"event_time": "1970-01-01T00:00:05Z"}, "event_time",
                     "1970-01-01T00:00:05Z is before the floor 2000-01-01T00:00:00Z"),
    "nan_price": ({"last": "NaN"}, "last", "nan is not a finite number"),
    "inf_volume": ({"volume": "inf"}, "volume", "inf is not a finite number"),
    "negative_price": ({"last": "-64000.0"}, "last", "-64000.0 must be > 0"),
    "crossed_quote": ({"bid": "64010.0", "ask": "64000.0"}, "bid", "crossed quote: bid 64010.0 > ask 64000.0"),
}


@pytest.mark.kafka
@pytest.mark.parametrize("case", list(CASES))
def test_produce_refuses_the_bad_tick_and_skip_bad_keeps_the_nine_good_ones(
    services: Settings, tmp_path: Path, case: str
) -> None:
    bad, field, *says = CASES[case]
    settings = _fresh(services, case.replace("_", "-"))
    path = tmp_path / "ticks.csv"
    lines = _ten_ticks_csv(path, 4, bad)  # the fifth tick: line 6 of the file

    proc = _mercado(settings, "produce", TICKS, str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    error = " ".join(proc.stderr.split())  # rich wraps long lines
    assert f"{path}:6: field '{field}': " in error, error
    for part in says:
        assert part in error, error
    assert "4 row(s) before it were produced" in error

    rejects = tmp_path / "rejects.csv"
    before = len(_read_all(settings))
    assert before == 4
    proc = _mercado(settings, "produce", TICKS, str(path), "--skip-bad", str(rejects))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "9 events produced" in proc.stdout and "1 rejected" in proc.stdout, proc.stdout
    assert rejects.read_text().splitlines() == [lines[0], lines[1 + 4]]  # the header and the row, as they were

    events = _read_all(settings)[before:]
    assert len(events) == 9
    ids = [e.record["event_id"] for e in events]
    assert len(set(ids)) == 9 and "binance:BTC/USDT:4" not in ids


@pytest.mark.kafka
def test_max_ahead_option_moves_the_bound(services: Settings, tmp_path: Path) -> None:
    settings = _fresh(services, "max-ahead")
    in_an_hour = time.time_ns() // 1000 + 3_600_000_000
    path = tmp_path / "ticks.jsonl"
    path.write_bytes(orjson.dumps({**_tick(1), "event_time": in_an_hour}) + b"\n")
    proc = _mercado(settings, "produce", TICKS, str(path))
    assert proc.returncode == 1 and "bound 300 s" in " ".join(proc.stderr.split()), proc.stderr
    proc = _mercado(settings, "produce", TICKS, str(path), "--max-ahead", "7200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [e.record["event_time"] for e in _read_all(settings)] == [in_an_hour]


@pytest.mark.kafka
def test_parquet_nan_is_refused_naming_the_row_and_the_rest_is_produced(services: Settings, tmp_path: Path) -> None:
    """A Parquet NaN is not a null: the batch leaves the column-wise path and the row path names it.
    A real null in a nullable field is fine."""
    settings = _fresh(services, "parquet")
    rows = [{**_tick(i), "event_time": T0 + i * 1_000_000, "bid": None if i == 7 else 63_999.5 + i}
            for i in range(10)]
    rows[3]["last"] = math.nan
    path = tmp_path / "ticks.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(BadRowError) as caught:
        FileProducer(settings, TICKS).produce_file(path)
    assert str(caught.value) == f"{path}:4: field 'last': nan is not a finite number"
    rejects = tmp_path / "rejects.jsonl"
    report = FileProducer(settings, TICKS).produce_file(path, rejects=rejects)
    assert (report.produced, report.rejected) == (9, 1)
    assert orjson.loads(rejects.read_bytes())["last"] == "nan"  # JSON has no NaN: shown as text, not null
    events = _read_all(settings)
    assert sorted(e.record["sequence"] for e in events) == [0, 0, 1, 1, 2, 2, 4, 5, 6, 7, 8, 9]
    assert [e.record["bid"] for e in events if e.record["sequence"] == 7] == [None]


@pytest.mark.kafka
def test_produced_at_stamp_is_at_or_after_the_check(services: Settings, tmp_path: Path) -> None:
    """A tick 4 minutes ahead passes the door; its mercado-produced-us stamp puts it within the bound,
    so the runtime's check against the stamp admits it as well."""
    from confluent_kafka import Consumer

    from streams.kafka.clients import consumer_config

    settings = _fresh(services, "stamp")
    ahead = time.time_ns() // 1000 + 240_000_000
    path = tmp_path / "ticks.jsonl"
    path.write_bytes(orjson.dumps({**_tick(1), "event_time": ahead}) + b"\n")
    FileProducer(settings, TICKS).produce_file(path)
    consumer = Consumer(consumer_config(settings, group_id=f"{settings.kafka.topic_prefix}stamp",
                                        **{"auto.offset.reset": "earliest"}))
    try:
        consumer.subscribe([settings.topic(TICKS)])
        msg = None
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error() and not is_marker(msg.value(), msg.headers()):
                break  # the tick (the door's end-of-input watermarks carry no stamp)
        assert msg is not None and not msg.error()
        stamp = int(dict(msg.headers())[PRODUCED_AT_HEADER])
        assert ahead - 300_000_000 <= stamp  # the door's reference time was at most this stamp
    finally:
        consumer.close()


# ------------------------------------------------------------------------------ backfill, through Kafka
@pytest.mark.kafka
def test_backfill_refuses_a_far_future_tick(services: Settings, tmp_path: Path) -> None:
    settings = _fresh(services, "backfill")
    path = tmp_path / "fixed.csv"
    _ten_ticks_csv(path, 6, {"event_time": "2999-01-01T00:00:00Z"})
    with pytest.raises(BadRowError) as caught:
        run_backfill(settings, TICKS, path)
    assert caught.value.line == 8 and caught.value.message.startswith("field 'event_time': 2999-01-01T00:00:00Z is ")
    proc = _mercado(settings, "backfill", TICKS, str(path))
    assert proc.returncode == 1
    assert f"{path}:8: field 'event_time': 2999-01-01T00:00:00Z is " in " ".join(proc.stderr.split())
    events = _read_all(settings)
    assert {e.schema.name for e in events} == {"PriceTick"}  # the ticks before it; no completion marker
    assert len(events) == 12


@pytest.mark.kafka
def test_backfill_refuses_a_range_that_ends_before_it_starts(services: Settings, tmp_path: Path) -> None:
    settings = _fresh(services, "backfill-range")
    path = tmp_path / "fixed.csv"
    _ten_ticks_csv(path, -1, {})
    proc = _mercado(settings, "backfill", TICKS, str(path), "--from", "2026-11-20T00:05:00Z",
                    "--to", "2026-11-20T00:01:00Z")
    assert proc.returncode == 1
    assert ("--from/--to: field 'start': 2026-11-20T00:05:00Z is after end 2026-11-20T00:01:00Z"
            in " ".join(proc.stderr.split())), proc.stderr
    assert _read_all(settings) == []  # checked before any tick was produced
