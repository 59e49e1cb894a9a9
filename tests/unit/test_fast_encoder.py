"""The generated encoders (``streams.codec.avro_encoder``, behind ``AvroSerde.encoder``) against fastavro.

For every schema under ``schemas/``: random valid records encode to exactly fastavro's bytes — and
through the generated fast path, not its fastavro fallback — records with omitted defaults, extra
keys or unusual-but-accepted values give fastavro's bytes too, and invalid records raise the same
``EncodeError`` (same message) as the fastavro encoder.
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.codec.avro_encoder import compile_encoder, zigzag_varint
from streams.codec.serde import AvroSerde, EncodeError
from tests.support.avro_strategies import LONG, for_schema

SERDE = AvroSerde()
RECORDS = [s.name for s in SERDE.schemas if s.is_record]
MARKETDATA_OUTPUTS = ["Bar", "IndicatorSet", "Gap", "DataQuality", "LateTick", "Alert"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fastavro_bytes(name: str, record: dict[str, Any]) -> bytes:
    buf = BytesIO()
    schemaless_writer(buf, SERDE.schemas[name].wire, record)
    return SERDE.frame_header(name) + buf.getvalue()


def fast_only(name: str):
    """The generated encoder with a fallback that fails: proves the fast path took the record."""

    def no_fallback(record: dict[str, Any]) -> bytes:
        raise AssertionError(f"fell back to fastavro for {record!r}")

    enc = compile_encoder(SERDE.schemas[name].wire, SERDE.frame_header(name), no_fallback)
    assert enc is not None, f"{name}: no generated encoder"
    return enc


def outcome(encode, record: Any) -> tuple[str, Any]:
    try:
        return "bytes", encode(record)
    except EncodeError as exc:
        return "error", str(exc)


def test_every_record_schema_gets_a_generated_encoder() -> None:
    for name in RECORDS:
        assert compile_encoder(SERDE.schemas[name].wire, b"", lambda r: b"") is not None, name


@pytest.mark.parametrize("name", RECORDS)
@SETTINGS
@given(data=st.data())
def test_valid_records_encode_like_fastavro_on_the_fast_path(name: str, data: st.DataObject) -> None:
    record = data.draw(for_schema(SERDE.schemas[name].expanded))
    expected = fastavro_bytes(name, record)
    assert fast_only(name)(record) == expected
    assert SERDE.encoder(name)(record) == expected
    assert SERDE.fastavro_encoder(name)(record) == expected


SPECIAL_DOUBLES = st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0, 5e-324, 1.7976931348623157e308])


def _variant(node: Any) -> st.SearchStrategy[Any]:
    """Values fastavro accepts beyond the plain strategy: NaN/inf/-0.0 and ints in double fields."""
    if node == "double" or (isinstance(node, dict) and node.get("type") == "double"):
        return st.one_of(st.floats(), SPECIAL_DOUBLES, st.integers(-(2**60), 2**60))
    if isinstance(node, list) and any(
        b == "double" or (isinstance(b, dict) and b.get("type") == "double") for b in node
    ):
        return st.one_of(st.none(), st.floats(), SPECIAL_DOUBLES, st.integers(-(2**60), 2**60))
    return for_schema(node)


@pytest.mark.parametrize("name", RECORDS)
@SETTINGS
@given(data=st.data())
def test_defaults_extra_keys_and_special_values_encode_like_fastavro(name: str, data: st.DataObject) -> None:
    schema = SERDE.schemas[name]
    named: dict[str, Any] = {}
    record = data.draw(for_schema(schema.expanded, named))
    for field in schema.expanded["fields"]:
        if field["name"] in record and data.draw(st.integers(0, 3)) == 0:
            try:
                record[field["name"]] = data.draw(_variant(field["type"]))
            except KeyError:  # a reference to a named type: keep the plain value
                pass
    for field in schema.expanded["fields"]:  # omit fields that have a default (fastavro writes it)
        if "default" in field and data.draw(st.booleans()):
            del record[field["name"]]
    if data.draw(st.booleans()):
        record["not_in_the_schema"] = "ignored"
    assert SERDE.encoder(name)(record) == fastavro_bytes(name, record)


@pytest.mark.parametrize(
    "value", [0, 1, -1, 63, -64, 64, 8191, -8192, 2**31 - 1, -(2**31), *LONG, 1_795_000_000_000_000]
)
def test_zigzag_varints_match_fastavro(value: int) -> None:
    buf = BytesIO()
    schemaless_writer(buf, "long", value)
    assert zigzag_varint(value) == buf.getvalue()


BAD_VALUES = [
    "text",
    "",
    1.5,
    float("nan"),
    7,
    2**31,
    -(2**31) - 1,
    2**63,
    -(2**63) - 1,
    2**70,
    True,
    False,
    None,
    b"raw",
    bytearray(b"x"),
    [],
    [1],
    {},
    {"-type": "x"},
    ("null", None),
    ("string", "x"),
    ("double", 1.0),
    Decimal("1.5"),
    Decimal("NaN"),
    "\udc80",
    object(),
]


@pytest.mark.parametrize("name", RECORDS)
@SETTINGS
@given(data=st.data())
def test_invalid_records_fail_like_fastavro(name: str, data: st.DataObject) -> None:
    """One field replaced by an odd value (or removed): the same EncodeError message as the fastavro
    encoder — or, where fastavro accepts the value, the same bytes."""
    schema = SERDE.schemas[name]
    record = data.draw(for_schema(schema.expanded))
    field = data.draw(st.sampled_from(schema.field_names()))
    if data.draw(st.integers(0, 4)) == 0:
        del record[field]
    else:
        record[field] = data.draw(st.sampled_from(BAD_VALUES))
    assert outcome(SERDE.encoder(name), record) == outcome(SERDE.fastavro_encoder(name), record)


@pytest.mark.parametrize("name", MARKETDATA_OUTPUTS)
@pytest.mark.parametrize("record", [None, [], "Bar", ("Bar", {})])
def test_a_non_record_fails_like_fastavro(name: str, record: Any) -> None:
    assert outcome(SERDE.encoder(name), record) == outcome(SERDE.fastavro_encoder(name), record)


def test_an_invalid_bar_names_the_field() -> None:
    bar = {
        "event_id": "bar:binance:BTC/USDT:60:0:r0",
        "event_time": 60_000_000,
        "venue": "binance",
        "symbol": "BTC/USDT",
        "interval_s": 60,
        "start": 0,
        "end": 60_000_000,
        "open": 1.0,
        "high": 2.0,
        "low": 0.5,
        "close": 1.5,
        "volume": 3.0,
        "vwap": None,
        "tick_count": 4,
        "price_source": "LAST",
        "session": "crypto",
        "revision": 0,
        "first_tick_id": "a",
        "last_tick_id": "b",
    }
    assert SERDE.encoder("Bar")(bar) == fastavro_bytes("Bar", bar)
    with pytest.raises(EncodeError, match="tick_count") as fast:
        SERDE.encoder("Bar")({**bar, "tick_count": "four"})
    with pytest.raises(EncodeError) as slow:
        SERDE.fastavro_encoder("Bar")({**bar, "tick_count": "four"})
    assert str(fast.value) == str(slow.value)


def test_encoders_are_built_once_per_schema_and_framing() -> None:
    assert SERDE.encoder("Bar") is SERDE.encoder("Bar")
    assert SERDE.encoder("Bar") is not SERDE.encoder("Gap")


@pytest.mark.parametrize("length", [0, 63, 64, 8191, 8192, 16383, 16384, 70_000])
def test_long_strings_encode_like_fastavro(length: int) -> None:
    heartbeat = {"event_id": "é" * length, "event_time": 1, "source": "x" * length}
    assert SERDE.encoder("Heartbeat")(heartbeat) == fastavro_bytes("Heartbeat", heartbeat)


@settings(max_examples=5, deadline=None)
@given(record=for_schema(SERDE.schemas["ScanSnapshot"].expanded), length=st.sampled_from([0, 1, 64, 16383, 16384]))
def test_long_arrays_encode_like_fastavro(record: dict[str, Any], length: int) -> None:
    record["rows"] = record["rows"][:1] * length
    assert SERDE.encoder("ScanSnapshot")(record) == fastavro_bytes("ScanSnapshot", record)
