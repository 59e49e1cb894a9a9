"""Serde: round trips in both framings for every contract, typed errors, schema evolution."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import load_schemas
from schemas.loader import build_schema
from streams.codec.serde import AvroSerde, DecodeError, EncodeError
from tests.support.avro_strategies import for_schema

RECORDS = [s for s in load_schemas().records()]
SINGLE = AvroSerde()
CONFLUENT = AvroSerde(registry_url="mock://mercado-tests")

TICK = {
    "event_id": "binance:BTC/USDT:7",
    "event_time": 1_763_650_000_123_456,
    "venue": "binance",
    "symbol": "BTC/USDT",
    "bid": 91234.5,
    "ask": 91235.1,
    "last": 91234.9,
    "volume": 0.0123,
    "sequence": 7,
    "backfill_id": None,
}


@pytest.mark.parametrize("schema", RECORDS, ids=lambda s: s.name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_single_object_encoding(schema: Any, data: st.DataObject) -> None:
    record = data.draw(for_schema(schema.expanded))
    encoded = SINGLE.encode(schema.name, record)
    assert encoded[:2] == b"\xc3\x01"
    assert encoded[2:10] == schema.fingerprint_bytes
    decoded_schema, decoded = SINGLE.decode(encoded)
    assert decoded_schema is schema
    assert decoded == record


@pytest.mark.parametrize("schema", RECORDS, ids=lambda s: s.name)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_confluent_framing(schema: Any, data: st.DataObject) -> None:
    record = data.draw(for_schema(schema.expanded))
    encoded = CONFLUENT.encode(schema.name, record, topic="t.roundtrip.v1")
    assert encoded[0] == 0
    schema_id = struct.unpack(">I", encoded[1:5])[0]
    assert schema_id == CONFLUENT.registry_id("t.roundtrip.v1", schema)
    decoded_schema, decoded = CONFLUENT.decode(encoded)
    assert decoded_schema.fullname == schema.fullname
    assert decoded == record


def test_decoder_accepts_both_framings() -> None:
    both = AvroSerde(registry_url="mock://mercado-tests")
    so = SINGLE.encode("PriceTick", TICK)
    cf = both.encode("PriceTick", TICK, topic="md.ticks.v1")
    assert both.decode(so)[1] == both.decode(cf)[1] == TICK


def test_timestamps_stay_integer_microseconds() -> None:
    _, rec = SINGLE.decode(SINGLE.encode("PriceTick", TICK))
    assert type(rec["event_time"]) is int and rec["event_time"] == 1_763_650_000_123_456


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda b: b"", "empty"),
        (lambda b: b[:6], "truncated"),
        (lambda b: b[:12], "corrupt_body"),
        (lambda b: b[:-3], "corrupt_body"),
        (lambda b: b + b"\x00\x01", "corrupt_body"),
        (lambda b: b"\xc3\x02" + b[2:], "bad_magic"),
        (lambda b: b"\x7b" + b[1:], "bad_magic"),
        (lambda b: b[:2] + bytes(8) + b[10:], "unknown_fingerprint"),
        (lambda b: b[:10] + b"\xff" * 12, "corrupt_body"),
        (lambda b: b"\x00\x00\x00\x00\x07" + b[10:], "no_registry"),
    ],
    ids=[
        "empty",
        "short-header",
        "truncated-body",
        "cut-tail",
        "trailing-bytes",
        "bad-version",
        "not-avro",
        "unknown-fingerprint",
        "garbage-body",
        "confluent-without-registry",
    ],
)
def test_undecodable_bytes_raise_a_typed_error(mangle: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        SINGLE.decode(mangle(SINGLE.encode("PriceTick", TICK)))
    assert info.value.reason == reason


def test_unknown_confluent_schema_id_is_a_typed_error() -> None:
    with pytest.raises(DecodeError) as info:
        CONFLUENT.decode(b"\x00\x00\x00\x99\x99" + b"\x02")
    assert info.value.reason == "unknown_schema_id"


@given(st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_random_bytes_never_crash_the_decoder(blob: bytes) -> None:
    try:
        SINGLE.decode(blob)
    except DecodeError:
        pass


def test_encoding_a_bad_record_names_the_field() -> None:
    with pytest.raises(EncodeError, match="sequence"):
        SINGLE.encode("PriceTick", {**TICK, "sequence": "seven"})


def test_old_version_decodes_into_the_current_schema() -> None:
    current = load_schemas()["PriceTick"]
    old_expanded = {**current.expanded, "fields": [f for f in current.expanded["fields"] if f["name"] != "volume"]}
    old = build_schema(old_expanded)
    assert old.fingerprint != current.fingerprint
    serde = AvroSerde(released=[old])
    old_record = {k: v for k, v in TICK.items() if k != "volume"}
    old_bytes = AvroSerde(schemas=type(load_schemas())({old.fullname: old})).encode("PriceTick", old_record)
    schema, record = serde.decode(old_bytes)
    assert schema is current
    assert record == {**old_record, "volume": 0.0}  # the new field's default
