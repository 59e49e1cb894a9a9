"""Contracts: loading, canonical forms and fingerprints (Avro spec vectors), compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastavro.schema import to_parsing_canonical_form

from schemas import SchemaLoadError, load_directory, load_schemas
from schemas.compat import check, compare, load_registry
from schemas.loader import build_schema, crc64_fingerprint

# From the Avro specification's test data (share/test/data/schema-tests.txt): input schema,
# Parsing Canonical Form, CRC-64-AVRO fingerprint as a signed 64-bit integer.
AVRO_SPEC_VECTORS = [
    ('"null"', '"null"', 7195948357588979594),
    ('"boolean"', '"boolean"', -6970731678124411036),
    ('"int"', '"int"', 8247732601305521295),
    ('"long"', '"long"', -3434872931120570953),
    ('"float"', '"float"', 5583340709985441680),
    ('"double"', '"double"', -8181574048448539266),
    ('"bytes"', '"bytes"', 5746618253357095269),
    ('"string"', '"string"', -8142146995180207161),
    ('[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090),
    (
        '{"fields":[], "type":"record", "name":"foo"}',
        '{"name":"foo","type":"record","fields":[]}',
        -4824392279771201922,
    ),
    (
        '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
        '{"name":"x.y.foo","type":"record","fields":[]}',
        5916914534497305771,
    ),
    (
        '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
        '{"name":"a.b.foo","type":"record","fields":[]}',
        -4616218487480524110,
    ),
    (
        '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
        '{"name":"foo","type":"record","fields":[]}',
        -4824392279771201922,
    ),
    (
        '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
        '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
        7843277075252814651,
    ),
    # The spec writes the default as the string "true", which fastavro rightly rejects for a boolean;
    # defaults are not part of the canonical form, so the boolean true gives the same fingerprint.
    (
        '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true},'
        '{"order":"descending","name":"f2","doc":"Hello","type":"int"}], "type":"record", "name":"foo"}',
        '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
        -4860222112080293046,
    ),
    (
        '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
        '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
        -4448647247586288245,
    ),
    (
        '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
        '{"name":"x.y.z.foo","type":"fixed","size":32}',
        -3064184465700546786,
    ),
    ('{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}', -589620603366471059),
    ('{ "values":"string", "type":"map"}', '{"type":"map","values":"string"}', -8732877298790414990),
]


@pytest.mark.parametrize(("schema", "canonical", "signed_fp"), AVRO_SPEC_VECTORS)
def test_canonical_form_and_fingerprint_match_the_avro_spec(schema: str, canonical: str, signed_fp: int) -> None:
    assert to_parsing_canonical_form(json.loads(schema)) == canonical
    assert crc64_fingerprint(canonical) == signed_fp % 2**64


def test_single_object_header_of_int_matches_the_spec() -> None:
    # The Avro spec's single-object encoding of schema "int": C3 01 + little-endian fingerprint.
    fp = crc64_fingerprint('"int"')
    assert b"\xc3\x01" + fp.to_bytes(8, "little") == bytes.fromhex("c3018f5c393f1ad57572")


def test_record_fingerprint_uses_the_expanded_canonical_form() -> None:
    s = build_schema({"type": "record", "name": "foo", "namespace": "x.y", "fields": []})
    assert s.fingerprint == 5916914534497305771
    assert s.fingerprint_bytes == (5916914534497305771).to_bytes(8, "little")


def test_project_contracts_load_with_common_fields() -> None:
    schemas = load_schemas()
    names = {s.name for s in schemas}
    assert {
        "PriceTick",
        "Heartbeat",
        "RetailListing",
        "ScanSnapshot",
        "ScanRow",
        "OrderSubmitted",
        "OrderAccepted",
        "OrderRejected",
        "OrderFilled",
        "OrderCanceled",
        "VenueHealth",
        "Side",
    } <= names
    for s in schemas:
        assert s.fullname == f"mercado.{s.domain}.{s.name}"
        if s.is_record and s.name != "ScanRow":
            fields = {f["name"]: f["type"] for f in s.expanded["fields"]}
            assert fields["event_id"] == "string", s.name
            assert fields["event_time"] == {"type": "long", "logicalType": "timestamp-micros"}, s.name


def test_nested_references_are_inlined_once() -> None:
    snap = load_schemas()["ScanSnapshot"]
    rows = next(f for f in snap.expanded["fields"] if f["name"] == "rows")
    assert rows["type"]["items"]["name"] == "mercado.scanner.ScanRow"
    assert rows["type"]["items"]["fields"][0]["name"] == "ticker"
    filled = load_schemas()["OrderFilled"]
    side = next(f for f in filled.expanded["fields"] if f["name"] == "side")
    assert side["type"]["symbols"] == ["BUY", "SELL"]


def test_clp_prices_are_integers_not_floats() -> None:
    listing = load_schemas()["RetailListing"]
    for name in ("price_normal", "price_offer", "price_card"):
        f = next(f for f in listing.expanded["fields"] if f["name"] == name)
        assert f["type"] == ["null", "long"]


def test_registry_is_up_to_date_with_the_contracts() -> None:
    findings = check(load_schemas(), load_registry())
    assert [f for f in findings if f.status != "unchanged"] == []


BASE = {
    "type": "record",
    "name": "A",
    "namespace": "t",
    "fields": [{"name": "x", "type": "long"}, {"name": "y", "type": "string"}],
}


def _with(fields: list[dict]) -> dict:
    return {**BASE, "fields": fields}


def test_adding_a_field_with_default_is_compatible() -> None:
    new = _with(BASE["fields"] + [{"name": "z", "type": ["null", "string"], "default": None}])
    assert compare(BASE, new) == []


def test_removing_a_field_without_default_fails_naming_it() -> None:
    problems = compare(BASE, _with(BASE["fields"][:1]))
    assert problems == ["old readers cannot read new events: reader field missing default value: y at /fields/1"]


def test_adding_a_field_without_default_fails_naming_it() -> None:
    problems = compare(BASE, _with(BASE["fields"] + [{"name": "z", "type": "string"}]))
    assert problems == ["new readers cannot read old events: reader field missing default value: z at /fields/2"]


def test_changing_a_type_fails() -> None:
    problems = compare(BASE, _with([{"name": "x", "type": "string"}, BASE["fields"][1]]))
    assert len(problems) == 2 and all("type mismatch" in p for p in problems)


def test_check_reports_incompatible_change_against_the_registry(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "A.avsc").write_text(json.dumps(_with(BASE["fields"][:1])))
    registry = {"t.A": [{"version": 1, "fingerprint": "0", "schema": BASE}]}
    [finding] = check(load_directory(tmp_path), registry)
    assert finding.status == "incompatible"
    assert "y" in finding.detail


def test_unknown_reference_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "B.avsc").write_text(
        json.dumps({"type": "record", "name": "B", "fields": [{"name": "a", "type": "nowhere.Missing"}]})
    )
    with pytest.raises(SchemaLoadError, match="nowhere.Missing"):
        load_directory(tmp_path)
