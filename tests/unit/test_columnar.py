"""Columnar encoding of Arrow batches (``streams.codec.columnar``): byte-identical to the row path
(fastavro, ``AvroSerde.fastavro_encoder``), and it declines every batch it cannot encode exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.admission import AdmissionConfig
from streams.codec.columnar import ColumnarEncoder, string_keys
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.ingest.producer import FileProducer

SERDE = AvroSerde()
COLUMNAR = AvroSerde()
COLUMNAR.columnar_min = 2  # the column-wise path for the small batches of these tests
TEXT = st.text(max_size=12)  # any unicode, including multi-byte and empty
LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT = st.integers(min_value=-(2**31), max_value=2**31 - 1)
DOUBLE = st.floats(allow_nan=True, allow_infinity=True)

ARROW = {"string": pa.string(), "long": pa.int64(), "int": pa.int32(), "double": pa.float64(), "boolean": pa.bool_()}
VALUES = {"string": TEXT, "long": LONG, "int": INT, "double": DOUBLE, "boolean": st.booleans()}


def encoder(name: str) -> ColumnarEncoder:
    found = ColumnarEncoder.maybe(SERDE.schemas[name].wire, SERDE.frame_header(name))
    assert found is not None
    return found


def arrow_schema(name: str) -> pa.Schema:
    fields = []
    for f in SERDE.schemas[name].wire["fields"]:
        t = f["type"]
        nullable = isinstance(t, list)
        base = next(b for b in t if b != "null") if nullable else t
        base = base["type"] if isinstance(base, dict) else base
        fields.append(pa.field(f["name"], ARROW[base], nullable=nullable))
    return pa.schema(fields)


def rows_strategy(name: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    parts = {}
    for f in SERDE.schemas[name].wire["fields"]:
        t = f["type"]
        nullable = isinstance(t, list)
        base = next(b for b in t if b != "null") if nullable else t
        base = base["type"] if isinstance(base, dict) else base
        values = VALUES[base]
        if f["name"] == "event_id":
            values = st.text(min_size=1, max_size=20)
        parts[f["name"]] = st.one_of(st.none(), values) if nullable else values
    return st.lists(st.fixed_dictionaries(parts), min_size=1, max_size=40)


def row_path(name: str, rows: list[dict[str, Any]]) -> list[bytes]:
    encode = SERDE.fastavro_encoder(name)  # fastavro itself (SERDE.encoder is the generated encoder)
    return [encode(r) for r in rows]


@pytest.mark.parametrize("name", ["PriceTick", "RetailListing", "VenueHealth", "Heartbeat", "Gap", "DataQuality"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_columnar_bytes_equal_the_row_path(name: str, data: st.DataObject) -> None:
    rows = data.draw(rows_strategy(name))
    batch = pa.RecordBatch.from_pylist(rows, schema=arrow_schema(name))
    assert encoder(name).encode(batch) == row_path(name, rows)


def test_sliced_batches_and_large_strings_encode_from_their_own_offsets() -> None:
    rows = [{"event_id": f"id-{i}-ñ" * (i % 3 + 1), "event_time": i * 1_000_003, "source": "é" * i} for i in range(50)]
    batch = pa.RecordBatch.from_pylist(rows, schema=arrow_schema("Heartbeat"))
    assert encoder("Heartbeat").encode(batch.slice(7, 20)) == row_path("Heartbeat", rows[7:27])
    large = pa.RecordBatch.from_arrays(
        [batch.column(0).cast(pa.large_string()), batch.column(1), batch.column(2).cast(pa.large_string())],
        names=batch.schema.names,
    )
    assert encoder("Heartbeat").encode(large) == row_path("Heartbeat", rows)


def test_missing_columns_take_the_schema_defaults_like_the_row_path() -> None:
    rows = [
        {
            "event_id": "k:1",
            "event_time": 5,
            "venue": "kraken",
            "symbol": "ETH/USDT",
            "bid": 1.5,
            "ask": 2.0,
            "last": None,
            "sequence": 9,
        }
    ]  # no volume (default 0.0), no backfill_id (null)
    batch = pa.RecordBatch.from_pylist(rows)
    assert encoder("PriceTick").encode(batch) == row_path("PriceTick", rows)


def test_integer_columns_for_doubles_and_dictionary_strings() -> None:
    rows = [{"event_id": "a", "event_time": 1, "venue": "v", "probe": "p", "latency_ms": 12, "ok": True, "error": None}]
    batch = pa.RecordBatch.from_pylist(rows)
    assert batch.schema.field("latency_ms").type == pa.int64()
    expected = row_path("VenueHealth", [{**rows[0], "latency_ms": 12.0}])
    assert encoder("VenueHealth").encode(batch) == expected
    encoded = pa.RecordBatch.from_arrays(
        [c.dictionary_encode() if pa.types.is_string(c.type) else c for c in batch.columns], names=batch.schema.names
    )
    assert encoder("VenueHealth").encode(encoded) == expected


TICK = {
    "event_id": "k:1",
    "event_time": 5,
    "venue": "kraken",
    "symbol": "ETH/USDT",
    "bid": 1.0,
    "ask": 2.0,
    "last": 1.5,
    "volume": 0.1,
    "sequence": 1,
    "backfill_id": None,
}


@pytest.mark.parametrize(
    "change, why",
    [
        ({"event_id": ""}, "an empty id gets a content hash on the row path"),
        ({"event_id": None}, "a missing id gets a content hash on the row path"),
        ({"venue": None}, "null in a non-nullable field: the row path rejects it, naming the field"),
        ({"sequence": 1.5}, "a float column for a long"),
        ({"bid": "1.0"}, "a string column for a double"),
        ({"extra": 1}, "a column that is not a field"),
    ],
)
def test_batches_that_need_the_row_path_are_declined(change: dict[str, Any], why: str) -> None:
    rows = [{**TICK, **change}, {**TICK, **change, "sequence": 2} if "sequence" not in change else {**TICK, **change}]
    assert encoder("PriceTick").encode(pa.RecordBatch.from_pylist(rows)) is None, why


def test_timestamp_columns_and_out_of_range_ints_are_declined() -> None:
    rows = [{**TICK, "event_time": datetime(2026, 11, 20, tzinfo=UTC)}]
    assert encoder("PriceTick").encode(pa.RecordBatch.from_pylist(rows)) is None
    listing = {
        "event_id": "x",
        "event_time": 1,
        "retailer": "r",
        "sku": "s",
        "name": "n",
        "brand": None,
        "category": None,
        "url": None,
        "price_normal": 1000,
        "price_offer": None,
        "price_card": None,
        "rating": None,
        "reviews_count": 2**31,
        "observed_at": 1,
    }
    assert encoder("RetailListing").encode(pa.RecordBatch.from_pylist([listing])) is None


def test_schemas_with_arrays_decimals_or_named_references_are_row_by_row() -> None:
    assert ColumnarEncoder.maybe(SERDE.schemas["ScanSnapshot"].wire, b"") is None  # array of records
    assert ColumnarEncoder.maybe(SERDE.schemas["OrderFilled"].wire, b"") is None  # decimals


def test_keys_join_string_columns_and_decline_others() -> None:
    batch = pa.RecordBatch.from_pylist([TICK, {**TICK, "venue": "binance", "symbol": "BTC/USDT"}])
    assert string_keys(batch, ("venue", "symbol")) == ["kraken:ETH/USDT", "binance:BTC/USDT"]
    assert string_keys(batch, ("venue",)) == ["kraken", "binance"]
    assert string_keys(batch, ("sequence",)) is None
    assert string_keys(batch, ("nope",)) is None


def test_file_producer_encodes_parquet_batches_or_falls_back() -> None:
    """``FileProducer.encode_batch`` on the catalog's multi-schema ticks topic: a batch without a type
    column is PriceTicks, a single-type column picks that type, mixed types go row by row. (Event times
    of a few µs: the admission floor is moved to the epoch here.)"""
    epoch = AdmissionConfig(floor=datetime(1970, 1, 1, tzinfo=UTC))
    settings = Settings(kafka_bootstrap="127.0.0.1:1", admission=epoch)
    producer = FileProducer(settings, "md.ticks.v1", producer=_NoProducer())
    ticks = pa.RecordBatch.from_pylist([TICK, {**TICK, "event_id": "k:2", "sequence": 2, "event_time": 2_999}])
    encoded = producer.encode_batch(ticks)
    assert encoded is not None
    assert encoded.name == "PriceTick"
    assert encoded.values == row_path(
        "PriceTick", [TICK, {**TICK, "event_id": "k:2", "sequence": 2, "event_time": 2_999}]
    )
    assert encoded.keys == ["kraken:ETH/USDT", "kraken:ETH/USDT"]
    assert encoded.timestamps_ms == [0, 2]
    beats = pa.RecordBatch.from_pylist([{"type": "Heartbeat", "event_id": "h", "event_time": 7, "source": "a:b"}])
    hb = producer.encode_batch(beats)
    assert hb is not None and hb.name == "Heartbeat" and hb.keys == ["a:b"]
    mixed = pa.RecordBatch.from_pylist([{**TICK, "type": "PriceTick"}, {**TICK, "type": "Heartbeat"}])
    assert producer.encode_batch(mixed) is None


class _NoProducer:
    """encode_batch needs no broker; FileProducer only keeps a reference to its producer."""

    def produce(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - never called here
        raise AssertionError("no produce expected")


# ------------------------------------------------------------------ decoding many values at once


def outcomes(values: list[bytes | None]) -> list[Any]:
    """What decode() gives per value: (schema name, record) or (reason, message) of its DecodeError."""
    from streams.codec.serde import DecodeError

    out: list[Any] = []
    for v in values:
        try:
            schema, record = SERDE.decode(v)
            out.append((schema.name, record))
        except DecodeError as exc:
            out.append(("error", exc.reason, str(exc)))
    return out


def many(values: list[bytes | None]) -> list[Any]:
    from streams.codec.serde import DecodeError

    return [
        ("error", r.reason, str(r)) if isinstance(r, DecodeError) else (r[0].name, r[1])
        for r in COLUMNAR.decode_many(values)
    ]


def same(a: list[Any], b: list[Any]) -> bool:
    """Equality that treats NaN as equal to NaN (records compare by value)."""
    import orjson

    return orjson.dumps(a, option=orjson.OPT_NON_STR_KEYS) == orjson.dumps(b, option=orjson.OPT_NON_STR_KEYS)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_decode_many_equals_decode_value_by_value(data: st.DataObject) -> None:
    """Interleaved record types, enough of each for the column-wise path."""
    values: list[bytes | None] = []
    for name in data.draw(
        st.lists(st.sampled_from(["PriceTick", "RetailListing", "VenueHealth", "Heartbeat"]), min_size=1, max_size=4)
    ):
        values.extend(row_path(name, data.draw(rows_strategy(name).map(lambda r: r * 10))))
    order = data.draw(st.permutations(range(len(values))))
    values = [values[i] for i in order]
    assert same(many(values), outcomes(values))


def _corruptions(value: bytes) -> list[bytes]:
    return [
        value[:-1],  # truncated
        value + b"\x00",  # trailing byte
        value[:10] + b"\xff" * 11 + value[21:],  # an over-long varint
        value[:10] + b"\x06" + value[11:],  # event_id length changed: fields shift
        value[:11] + b"\xff\xfe" + value[13:],  # invalid UTF-8 in the id
        b"",
        None,
        b"\xc3\x01" + bytes(8) + value[10:],  # unknown fingerprint
    ]


@pytest.mark.parametrize("bad", range(8))
def test_one_bad_value_in_a_batch_is_reported_exactly_as_decode_reports_it(bad: int) -> None:
    ticks = row_path("PriceTick", [{**TICK, "event_id": f"k:{i}", "sequence": i} for i in range(40)])
    values: list[bytes | None] = list(ticks)
    values[17] = _corruptions(ticks[17])[bad]
    got, expected = many(values), outcomes(values)
    assert same(got, expected)
    assert sum(1 for g in got if g[0] == "error") >= (0 if bad == 3 else 1)


def test_union_branch_and_boolean_bytes_outside_the_schema_go_value_by_value() -> None:
    health = row_path(
        "VenueHealth",
        [
            {
                "event_id": f"h{i}",
                "event_time": i,
                "venue": "v",
                "probe": "p",
                "latency_ms": 1.0,
                "ok": bool(i % 2),
                "error": None,
            }
            for i in range(30)
        ],
    )
    ok_at = len(health[0]) - 2  # ok (1 byte), then error's union branch (1 byte, null)
    bad_bool = health[:5] + [health[5][:ok_at] + b"\x07" + health[5][ok_at + 1 :]] + health[6:]
    bad_branch = health[:5] + [health[5][:-1] + b"\x08"] + health[6:]
    for values in (bad_bool, bad_branch):
        assert same(many(values), outcomes(values))


def test_decode_many_of_large_varints_and_extreme_values() -> None:
    rows = [
        {**TICK, "event_id": f"x{i}", "event_time": v, "sequence": -v if v > -(2**63) else v, "bid": f}
        for i, (v, f) in enumerate([(2**63 - 1, math.inf), (-(2**63), -0.0), (0, math.nan), (1, 5e-324)] * 5)
    ]
    values = row_path("PriceTick", rows)
    assert same(many(values), outcomes(values))
    assert many(values)[0][1]["event_time"] == 2**63 - 1


def test_decode_many_goes_column_wise_only_from_columnar_min_values() -> None:
    """Below the threshold value by value is cheaper (a columnar decode has a fixed cost of ~50 values)."""
    serde = AvroSerde()
    ticks = row_path("PriceTick", [{**TICK, "event_id": f"k:{i}", "sequence": i} for i in range(serde.columnar_min)])
    header = ticks[0][:10]
    serde.decode_many(ticks[:-1])
    assert header not in serde._columnar  # never built: value by value
    assert same([(s.name, r) for s, r in serde.decode_many(ticks)], outcomes(ticks))
    assert serde._columnar[header] is not None
