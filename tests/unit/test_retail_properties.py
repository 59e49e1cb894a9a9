"""Properties of the normalizer and the listing stage on arbitrary input (hypothesis)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.retail import RetailReplay, block_keys, parse_title
from processors.retail.text import fold
from streams.codec.serde import AvroSerde
from tests.support.retail import T0, listing

_WORDS = st.sampled_from(
    [
        "Celular",
        "Smartphone",
        "Samsung",
        "Galaxy",
        "A54",
        "5G",
        "128GB",
        "8GB",
        "RAM",
        "8+128GB",
        "1TB",
        "Negro",
        "Awesome",
        "Black",
        "Audífonos",
        "Televisor",
        '55"',
        "pulgadas",
        "Refrigerador",
        "No",
        "Frost",
        "312L",
        "Lavadora",
        "17KG",
        "SM-A546E",
        "MQ8N3LZ/A",
        "Titanio",
        "Azul",
        "Notebook",
        "Core",
        "i5-1335U",
        "SSD",
        "15,6",
        "Pro",
        "Max",
        "+",
        "/",
        "-",
        "''",
        "ñandú",
        "ÁRBOL",
        "Ü",
        "x",
        "0",
        "00",
        "9999999",
    ]
)
_TITLES = st.one_of(st.text(max_size=120), st.lists(_WORDS, max_size=14).map(" ".join))
_CASEABLE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéíóúñü0123456789 +/-.,\"'", max_size=80)


@settings(max_examples=400, deadline=None)
@given(_TITLES, st.one_of(st.none(), st.text(max_size=20)), st.one_of(st.none(), st.text(max_size=40)))
def test_the_normalizer_never_crashes(title: str, brand: str | None, path: str | None) -> None:
    a = parse_title(title, brand, path)
    assert a.normalized_title == fold(a.normalized_title)
    assert a.storage_gb is None or a.storage_gb >= 0
    assert all(k.startswith(("m|", "c|", "t|")) for k in block_keys(a))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_folding_is_idempotent_and_ascii(text: str) -> None:
    once = fold(text)
    assert fold(once) == once
    assert once.isascii()
    assert once == once.lower()


@settings(max_examples=300, deadline=None)
@given(_TITLES)
def test_a_folded_title_parses_the_same(title: str) -> None:
    assert parse_title(fold(title)) == parse_title(title)


@settings(max_examples=300, deadline=None)
@given(_CASEABLE)
def test_case_and_accents_do_not_change_the_attributes(title: str) -> None:
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    assert parse_title(title.upper()) == parse_title(title.lower()) == parse_title(plain)


@settings(max_examples=150, deadline=None)
@given(_TITLES, st.one_of(st.none(), st.integers(-10, 10**9)), st.one_of(st.none(), st.integers(-10, 10**9)))
def test_the_listing_stage_turns_any_listing_into_valid_events(
    title: str, normal: int | None, offer: int | None
) -> None:
    serde = AvroSerde()
    out = RetailReplay().feed(listing("falabella", "1", title, normal, offer=offer, t=T0))
    assert out, "a listing is never dropped silently"
    schemas = {e.schema for e in out}
    assert ("NormalizedListing" in schemas) != ("ListingRejected" in schemas)
    for e in out:
        serde.encode(e.schema, e.record)
