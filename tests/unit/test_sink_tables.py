"""The sink's declarative mapping, SQL generation, migrations on disk and backoff (no services needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sinks.migrate import MigrationError, StorageMode, discover_migrations
from sinks.runner import Backoff, default_topics
from sinks.tables import HEADERS, MAPPING_FILE, ConflictPolicy, MappingError, load_mappings, parse_mappings
from sinks.writer import sql_literal, store_offsets_sql
from tests.support.sink import T0_US, alert, bar, late_tick


def test_every_derived_market_data_record_type_has_a_table() -> None:
    # tables.toml only: the other pipelines' tables.<pipeline>.toml are checked by their own tests
    mappings = {m.record: (m.table, m.key, m.on_conflict, m.revision) for m in load_mappings(MAPPING_FILE)}
    assert mappings == {
        "mercado.marketdata.Bar": (
            "md_bars",
            ("venue", "symbol", "interval_s", "start_time"),
            ConflictPolicy.HIGHEST_REVISION,
            "revision",
        ),
        "mercado.marketdata.Gap": ("md_gaps", ("event_id", "start_time"), ConflictPolicy.IGNORE, None),
        "mercado.marketdata.IndicatorSet": ("md_indicators", ("event_id", "bar_start"), ConflictPolicy.IGNORE, None),
        "mercado.marketdata.DataQuality": ("md_data_quality", ("event_id", "hour_start"), ConflictPolicy.IGNORE, None),
        "mercado.marketdata.LateTick": ("md_late_ticks", ("event_id", "event_time"), ConflictPolicy.IGNORE, None),
        "mercado.alerts.Alert": ("alerts", ("event_id", "event_time"), ConflictPolicy.IGNORE, None),
    }


def test_the_sink_reads_the_catalog_topics_of_mapped_record_types_by_default() -> None:
    assert default_topics(load_mappings(MAPPING_FILE)) == [
        "md.bars.v1", "md.gaps.v1", "md.indicators.v1", "md.quality.v1", "md.late-ticks.v1", "md.alerts.v1",
        "risk.alerts.v1",  # the risk pipeline's alerts land in the same alerts table
    ]  # fmt: skip


def test_rows_are_extracted_in_column_order_with_timestamps_in_microseconds() -> None:
    bars, *_rest, alerts = load_mappings(MAPPING_FILE)
    record = bar(2)
    assert bars.extract(record) == (
        "sim", "USDCOP", 60, T0_US + 120_000_000, T0_US + 180_000_000, 4000.5, 4003.0, 3999.0, 4001.25, 12.0,
        4001.0, 7, "LAST", "regular", 0, record["event_id"], T0_US + 180_000_000, "sim:USDCOP:200", "sim:USDCOP:299",
    )  # fmt: skip
    assert alerts.extract(alert(1))[-1] == '{"direction":"up","window":"5m"}'  # jsonb, keys sorted


def test_nested_record_fields_map_to_columns() -> None:
    late = next(m for m in load_mappings() if m.table == "md_late_ticks")
    row = dict(zip(late.column_names, late.extract(late_tick(3)), strict=True))
    assert row == {
        "event_id": "late:sim:USDCOP:900003",
        "event_time": T0_US + 3 * 60_000_000 + 1_000_000,
        "venue": "sim",
        "symbol": "USDCOP",
        "watermark": T0_US + 3 * 60_000_000 + 8_000_000,
        "lateness_us": 7_000_000,
        "tick_event_id": "sim:USDCOP:900003",
        "tick_bid": 4001.0,
        "tick_ask": 4002.0,
        "tick_last": None,
        "tick_volume": 0.5,
        "tick_sequence": 900_003,
        "tick_backfill_id": None,
    }


def test_a_header_column_reads_the_messages_stamp_and_nothing_else() -> None:
    runs = next(m for m in load_mappings() if m.table == "job_run_shards")
    assert runs.headers == ("mercado-processing-us",)
    assert next(m for m in load_mappings() if m.table == "daily_recommendations").headers == ()
    record = {"job": "daily", "run_date": "2026-11-20", "shard": 2, "shards": 3, "status": "COMPLETED",
              "trigger": "schedule", "cutoff": T0_US, "tickers_processed": 5, "errors_count": 0, "errors": [],
              "model_version": "reco-1", "duration_ms": None, "event_id": "jobrun:x", "event_time": T0_US}

    def duration(headers: dict | None) -> object:
        rec = dict(record) if headers is None else {**record, HEADERS: headers}
        return dict(zip(runs.column_names, runs.extract(rec), strict=True))["duration_ms"]

    assert duration({"mercado-processing-us": b"1234567"}) == 1235  # µs -> ms, rounded
    assert duration({"mercado-processing-us": b"1499"}) == 1
    assert duration({"mercado-processing-us": b"0"}) == 0
    assert duration({}) is None and duration(None) is None  # not stamped (a replay's): no measurement
    assert duration({"mercado-processing-us": b"12ms"}) is None  # malformed: no measurement
    assert duration({"other": b"5000"}) is None


def test_revisions_of_one_key_in_a_batch_are_split_into_ordered_parts() -> None:
    bars = load_mappings()[0]
    rows = [bars.extract(r) for r in (bar(1), bar(2), bar(1, revision=1), bar(3), bar(1, revision=2), bar(2))]
    assert bars.generations(rows) == [[0, 1, 3], [2, 5], [4]]
    assert bars.generations(rows[:2]) == [[0, 1]]
    gaps = load_mappings()[1]
    assert gaps.generations([("a",), ("a",)]) == [[0, 1]]  # DO NOTHING tolerates repeats in one statement


def test_sql_for_revisable_rows_only_replaces_lower_revisions() -> None:
    bars = load_mappings()[0]
    upsert = bars.upsert_sql()
    assert upsert.startswith('INSERT INTO "md_bars" ("venue", "symbol", "interval_s", "start_time", "end_time"')
    assert "TIMESTAMPTZ 'epoch' + s.\"start_time\" * INTERVAL '1 microsecond'" in upsert
    assert 'ON CONFLICT ("venue", "symbol", "interval_s", "start_time") DO UPDATE SET "end_time" = EXCLUDED' in upsert
    assert upsert.endswith(
        '"ingested_at" = DEFAULT WHERE "md_bars"."revision" < EXCLUDED."revision"; TRUNCATE "mercado_stage_md_bars"'
    )
    assert 'ON CONFLICT ("event_id", "start_time") DO NOTHING;' in load_mappings()[1].upsert_sql()
    assert bars.create_staging_sql().startswith(
        'CREATE TEMP TABLE IF NOT EXISTS "mercado_stage_md_bars" ON COMMIT DELETE ROWS AS SELECT "venue", "symbol",'
        ' "interval_s", NULL::bigint AS "start_time"'
    )


def test_offsets_sql_quotes_names() -> None:
    assert sql_literal("it's") == "'it''s'"
    assert store_offsets_sql("g'1", {("md.bars.v1", 2): 17}) == (
        "INSERT INTO mercado_sink_offsets (consumer_group, topic, partition, next_offset) "
        "VALUES ('g''1', 'md.bars.v1', 2, 17) ON CONFLICT (consumer_group, topic, partition) "
        "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"
    )


def _document(**changes: object) -> dict:
    entry = {
        "record": "mercado.marketdata.Gap",
        "table": "gaps",
        "key": ["event_id"],
        "on_conflict": "ignore",
        "columns": {"event_id": "event_id", "start_time": {"field": "start", "type": "timestamp"}},
    }
    entry.update(changes)
    return {"table": [entry]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"record": "mercado.marketdata.Nope"}, "unknown record type 'mercado.marketdata.Nope'"),
        (
            {"columns": {"event_id": "event_id", "x": "missing"}},
            "gaps.x: mercado.marketdata.Gap has no field 'missing'",
        ),
        ({"key": ["event_id", "venue"]}, "key ['event_id', 'venue'] names columns that are not mapped"),
        ({"on_conflict": "highest_revision"}, "on_conflict = 'highest_revision' needs a mapped revision column"),
        ({"on_conflict": "replace"}, "'replace' is not a valid ConflictPolicy"),
        ({"columns": {"event_id": {"field": "event_id", "type": "uuid"}}}, "type 'uuid' is not one of"),
        ({"columns": {"event_id": "event_id", "ingested_at": "event_time"}}, "'ingested_at' is written by the sink"),
        ({"columns": {"event_id": {"field": "event_id", "type": "us_to_ms"}}}, "'us_to_ms' is for header columns"),
        ({"columns": {"event_id": "event_id", "took": {"header": "h", "type": "json"}}}, "a header column's type"),
        ({"columns": {"event_id": "event_id", "took": {"header": "h", "unit": "s"}}}, "unknown keys ['unit']"),
    ],
)
def test_mapping_mistakes_are_reported_by_name(changes: dict, message: str) -> None:
    with pytest.raises(MappingError, match=None) as raised:
        parse_mappings(_document(**changes))
    assert message in str(raised.value)


def test_the_same_record_type_cannot_go_to_two_tables() -> None:
    document = {"table": _document()["table"] * 2}
    with pytest.raises(MappingError, match="record types mapped twice: \\['mercado.marketdata.Gap'\\]"):
        parse_mappings(document)


def test_migrations_on_disk_have_one_file_or_one_per_storage_mode(tmp_path: Path) -> None:
    found = discover_migrations()
    assert [(m.version, m.name) for m in found[:3]] == [(1, "tables"), (2, "timeseries"), (3, "views")]
    assert found[1].path(StorageMode.PLAIN).name == "0002_timeseries.plain.sql"
    assert found[1].path(StorageMode.TIMESCALEDB).name == "0002_timeseries.timescaledb.sql"
    assert found[0].path(StorageMode.PLAIN) == found[0].path(StorageMode.TIMESCALEDB)

    (tmp_path / "0001_only.plain.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="0001_only needs a .plain.sql and a .timescaledb.sql file"):
        discover_migrations(tmp_path)
    (tmp_path / "0001_only.plain.sql").unlink()
    (tmp_path / "1_bad.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="1_bad.sql: migration files are named"):
        discover_migrations(tmp_path)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    random.seed(7)
    backoff = Backoff(initial_s=0.1, max_s=2.0)
    for attempt, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (40, 2.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered
