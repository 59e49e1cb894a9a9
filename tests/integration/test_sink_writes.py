"""The sink's write path on the real broker and database: bad rows, bad messages, revisions, rebuilds,
and a clean stop. The sink runs in this process (``drain``) or as ``mercado sink`` (signals)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinks.migrate import migrate, reset
from streams.config import Settings
from streams.kafka.catalog import DEAD_LETTER_TOPIC
from tests.support.sink import (
    EventProducer,
    SinkProcess,
    alert,
    bar,
    bar_row,
    checksums,
    compare_bars,
    create_database,
    create_topics,
    data_quality,
    drain,
    drop_database,
    gap,
    indicator_set,
    isolated,
    late_tick,
    load_expected_bars,
    migrated,
    price_tick,
    query,
    read_topic,
    stored_offsets,
    wait_until,
    written_end_offsets,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def sink_database(services: Settings) -> Iterator[Settings]:
    settings = create_database(services, "sink_writes")
    yield settings
    drop_database(settings)


@pytest.fixture
def sink(sink_database: Settings) -> Settings:
    """A migrated schema, a topic prefix and a consumer group of this test's own."""
    return migrated(isolated(sink_database))


def dlq_headers(msg: object) -> dict[str, str]:
    return {
        k.removeprefix("mercado.dlq."): v.decode() for k, v in (msg.headers() or []) if k.startswith("mercado.dlq.")
    }  # type: ignore[attr-defined]


def test_three_poison_rows_in_a_batch_of_5000_are_dead_lettered_and_4997_are_written(sink: Settings) -> None:
    settings = sink.with_({"sink__batch_rows": 5000, "sink__batch_ms": 600_000})  # one full batch
    create_topics(settings, "bars")
    records = [bar(i) for i in range(5000)]
    records[100] = bar(100, high=3990.0, low=4010.0)  # high < low
    records[2500] = bar(2500, tick_count=-3)
    records[4999] = bar(4999, vwap=float("nan"))
    poison = {100: "md_bars_ohlc_consistent", 2500: "md_bars_tick_count_valid", 4999: "md_bars_prices_finite"}
    producer = EventProducer(settings)
    for record in records:
        producer.send("bars", "Bar", record)
    producer.flush()

    runner = drain(settings, ["bars"])

    assert (runner.stats.batches, runner.stats.rows, runner.stats.dead_letters) == (1, 4997, 3)
    good = [r for i, r in enumerate(records) if i not in poison]
    comparison = compare_bars(settings, load_expected_bars(settings, good))
    assert comparison["rows"] == comparison["expected_rows"] == 4997
    assert (comparison["missing"], comparison["unexpected"]) == (0, 0)
    assert comparison["md5"] == comparison["expected_md5"]

    letters = query(
        settings,
        "SELECT record->>'event_id' AS event_id, reason, error, record_type, topic, consumer_group "
        "FROM mercado_dead_letters ORDER BY record->>'event_id'",
    )
    by_event = {r["event_id"]: r for r in letters}
    assert set(by_event) == {records[i]["event_id"] for i in poison}
    for i, constraint in poison.items():
        letter = by_event[records[i]["event_id"]]
        assert letter["reason"] == "rejected_by_database"
        assert letter["record_type"] == "mercado.marketdata.Bar"
        assert letter["topic"] == settings.topic("bars")
        assert letter["consumer_group"] == settings.kafka.topic_prefix + "sink"
        assert letter["error"].startswith("md_bars: [23514] CheckViolationError:")
        assert f"(constraint: {constraint})" in letter["error"]

    on_topic = read_topic(settings, settings.topic(DEAD_LETTER_TOPIC))
    headers = sorted((dlq_headers(m) for m in on_topic), key=lambda h: int(h["offset"]))
    assert len(headers) == 3
    assert {h["reason"] for h in headers} == {"rejected_by_database"}
    assert {h["topic"] for h in headers} == {settings.topic("bars")}
    assert sorted(c for c in poison.values()) == sorted(
        next(c for c in poison.values() if c in h["error"]) for h in headers
    )
    assert stored_offsets(settings) == written_end_offsets(settings, "bars")


def test_undecodable_and_unmapped_messages_become_dead_letters(sink: Settings) -> None:
    create_topics(sink, "mixed", partitions=1)
    producer = EventProducer(sink)
    garbage = b"not avro at all"
    serde = producer.serde
    truncated = serde.encode("Bar", bar(0))[:25]
    producer.send_raw("mixed", garbage, b"k")
    producer.send("mixed", "Bar", bar(1))
    producer.send("mixed", "PriceTick", price_tick(7))
    producer.send_raw("mixed", truncated, b"k")
    producer.send("mixed", "Bar", bar(2))
    producer.flush()

    runner = drain(sink, ["mixed"])

    assert (runner.stats.rows, runner.stats.dead_letters) == (2, 3)
    assert [r["event_id"] for r in query(sink, "SELECT event_id FROM md_bars ORDER BY start_time")] == [
        bar(1)["event_id"],
        bar(2)["event_id"],
    ]
    letters = query(
        sink,
        'SELECT "offset", reason, message_value, record_type, record FROM mercado_dead_letters ORDER BY "offset"',
    )
    assert [(r["offset"], r["reason"], r["record_type"]) for r in letters] == [
        (0, "bad_magic", None),
        (2, "unmapped_record", "mercado.marketdata.PriceTick"),
        (3, "corrupt_body", None),
    ]
    assert letters[0]["message_value"] == garbage
    assert letters[2]["message_value"] == truncated
    on_topic = read_topic(sink, sink.topic(DEAD_LETTER_TOPIC))
    assert sorted((dlq_headers(m)["offset"], dlq_headers(m)["reason"]) for m in on_topic) == [
        ("0", "bad_magic"),
        ("2", "unmapped_record"),
        ("3", "corrupt_body"),
    ]
    assert [m.value() for m in sorted(on_topic, key=lambda m: int(dlq_headers(m)["offset"]))][0] == garbage
    assert stored_offsets(sink) == {(sink.topic("mixed"), 0): 5}


def test_a_higher_revision_replaces_a_bar_and_a_lower_or_equal_one_never_does(sink: Settings) -> None:
    create_topics(sink, "bars")
    producer = EventProducer(sink)

    def send(*records: dict) -> tuple[int, int]:
        """Writes the records with a new sink; its writer's (direct COPYs, key conflicts)."""
        for record in records:
            producer.send("bars", "Bar", record)
        producer.flush()
        writer = drain(sink, ["bars"]).writer
        return writer.direct_copies, writer.key_conflicts

    def stored(i: int) -> tuple[int, float, str]:
        row = query(
            sink, "SELECT revision, close, event_id FROM md_bars WHERE start_time = to_timestamp($1::float8 / 1e6)",
            bar(i)["start"],
        )  # fmt: skip
        assert len(row) == 1
        return row[0]["revision"], row[0]["close"], row[0]["event_id"]

    assert send(bar(1), bar(2), bar(3)) == (1, 0)  # new keys: COPYed straight into md_bars
    assert stored(1) == (0, bar(1)["close"], bar(1)["event_id"])

    # an existing key: the direct COPY fails, the batch is written again through ON CONFLICT
    assert send(bar(1, revision=1)) == (0, 1)  # backfill: replaces
    assert stored(1) == (1, bar(1, revision=1)["close"], bar(1, revision=1)["event_id"])

    assert send(bar(1, revision=0)) == (0, 1)  # replayed original: ignored
    assert stored(1) == (1, bar(1, revision=1)["close"], bar(1, revision=1)["event_id"])

    # several revisions of one bar in one batch: applied in order, the highest wins
    assert send(bar(2, revision=2), bar(2, revision=1), bar(2, revision=2, volume=999.0)) == (0, 1)
    assert stored(2) == (2, bar(2, revision=2)["close"], bar(2, revision=2)["event_id"])
    assert (
        query(sink, "SELECT volume FROM md_bars WHERE event_id = $1", bar(2, revision=2)["event_id"])[0][0]
        == (bar(2)["volume"])
    )  # the equal revision that came second did not overwrite

    send(bar(3, close=4001.0))  # same key, same revision 0, other content: the first one stays
    assert stored(3) == (0, bar(3)["close"], bar(3)["event_id"])

    assert query(sink, "SELECT count(*) FROM md_bars")[0][0] == 3


def test_direct_copy_and_staging_write_the_same_rows_and_a_conflict_sends_a_table_to_staging_for_a_while(
    sink: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer alone: new keys are COPYed into md_bars, an existing key sends md_bars through
    staging + ON CONFLICT for DIRECT_RETRY_BATCHES batches, then a direct COPY is tried again. Both
    paths store the same values (timestamps included) as an independent conversion of the records."""
    from sinks import writer as writer_module
    from sinks.database import connect
    from sinks.dead_letters import DeadLetterTopic
    from sinks.tables import load_mappings
    from sinks.writer import Batch, BatchWriter, TableRows
    from streams.codec.serde import AvroSerde

    monkeypatch.setattr(writer_module, "DIRECT_RETRY_BATCHES", 2)
    bars = next(m for m in load_mappings() if m.table == "md_bars")

    def batch_of(*records: dict) -> Batch:
        batch = Batch()
        batch.tables[bars.record] = TableRows(bars, [bars.extract(r) for r in records], [None] * len(records))
        batch.message_count = len(records)
        return batch

    async def run() -> list[tuple[int, int]]:
        writer = BatchWriter("writer-test", [bars], AvroSerde(), DeadLetterTopic(sink))
        conn = await connect(sink, "mercado-test")
        await writer.prepare(conn)
        counters = []
        try:
            for records in (
                [bar(i) for i in range(10)],  # new: direct
                [bar(i) for i in range(10, 20)] + [bar(3, revision=1)],  # a key exists: staging (1 of 2)
                [bar(i) for i in range(20, 30)],  # staging (2 of 2)
                [bar(i) for i in range(30, 40)],  # direct again
                [bar(i, symbol="EURUSD") for i in range(5)] * 2,  # a key repeats in the batch: staging
            ):
                assert await writer.write(conn, batch_of(*records)) == []
                counters.append((writer.direct_copies, writer.key_conflicts))
        finally:
            await conn.close()
        return counters

    from prometheus_client import REGISTRY

    def conflicts_counted() -> float:
        return REGISTRY.get_sample_value("mercado_sink_key_conflicts_total", {"table": "md_bars"}) or 0.0

    counted_before = conflicts_counted()
    assert asyncio.run(run()) == [(1, 0), (1, 1), (1, 1), (2, 1), (2, 2)]
    assert conflicts_counted() - counted_before == 2
    expected = [bar_row(r) for r in [bar(i) for i in range(40) if i != 3] + [bar(3, revision=1)]]
    expected += [bar_row(bar(i, symbol="EURUSD")) for i in range(5)]
    columns = ", ".join(bars.column_names)
    stored = [tuple(r) for r in query(sink, f"SELECT {columns} FROM md_bars ORDER BY symbol, start_time")]
    assert stored == sorted(expected, key=lambda row: (row[1], row[3]))


def test_dropping_the_tables_and_replaying_the_topics_gives_identical_checksums(sink: Settings) -> None:
    create_topics(sink, "marketdata", "alerts")
    producer = EventProducer(sink)
    for i in range(300):
        for symbol in ("USDCOP", "EURUSD"):
            producer.send("marketdata", "Bar", bar(i, symbol=symbol))
    for i in range(0, 300, 15):
        producer.send("marketdata", "Bar", bar(i, symbol="USDCOP", revision=1))  # backfilled revisions
    producer.send("marketdata", "Bar", bar(400, high=1.0))  # rejected by a CHECK constraint
    producer.send_raw("marketdata", b"\x00\x00\x00\x00\x01garbage", b"sim:USDCOP")  # undecodable
    for i in range(5):
        producer.send("marketdata", "Gap", gap(40 + i * 30))
    for i in range(50):
        producer.send("marketdata", "IndicatorSet", indicator_set(i))
    for hour in range(3):
        producer.send("marketdata", "DataQuality", data_quality(hour))
    for i in range(4):
        producer.send("marketdata", "LateTick", late_tick(i))
    for i in range(6):
        producer.send("alerts", "Alert", alert(i), key=f"move:sim:USDCOP:{i}")
    producer.flush()

    drain(sink, ["marketdata", "alerts"])
    first = checksums(sink)
    assert {table: rows for table, (rows, _md5) in first.items() if rows} == {  # other pipelines' tables: empty
        "md_bars": 600,
        "md_gaps": 5,
        "md_indicators": 50,
        "md_data_quality": 3,
        "md_late_ticks": 4,
        "alerts": 6,
        "mercado_dead_letters": 2,
    }
    revised = query(sink, "SELECT count(*) FROM md_bars WHERE revision = 1")[0][0]
    assert revised == 20

    asyncio.run(reset(sink))  # drop everything, offsets included
    asyncio.run(migrate(sink))
    assert checksums(sink)["md_bars"][0] == 0
    drain(sink, ["marketdata", "alerts"])

    assert checksums(sink) == first


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_writes_the_current_batch_and_exits_0(sink: Settings, tmp_path: Path, stop_signal: int) -> None:
    settings = sink.with_({"sink__batch_rows": 100_000, "sink__batch_ms": 600_000})  # never due by itself
    create_topics(settings, "bars")
    producer = EventProducer(settings)
    for i in range(1000):
        producer.send("bars", "Bar", bar(i))
    producer.flush()
    process = SinkProcess(settings, ["bars"], tmp_path / "sink.log").start()
    try:
        process.wait_for_metrics()
        wait_until(
            lambda: process.metrics().get("mercado_sink_unwritten_messages") == 1000, 60, "the sink to consume 1000"
        )
        assert query(settings, "SELECT count(*) FROM md_bars")[0][0] == 0  # still in the batch being filled
        assert process.process is not None
        process.process.send_signal(stop_signal)
        assert process.process.wait(60) == 0, process.log()
    finally:
        if process.alive():
            process.kill()
    assert query(settings, "SELECT count(*) FROM md_bars")[0][0] == 1000
    assert stored_offsets(settings) == written_end_offsets(settings, "bars")
