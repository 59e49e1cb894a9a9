"""Current price, rejections and price glitches, exact values."""

from __future__ import annotations

import pytest

from processors.retail import GlitchConfig, current_price, detect, run_retail
from processors.retail.glitches import rolling_median
from streams.codec.serde import AvroSerde
from tests.support.retail import HOUR, T0, listing, of

PHONE = "Celular Samsung Galaxy A54 5G 8GB RAM 128GB Negro"
CFG = GlitchConfig()


@pytest.mark.parametrize(
    ("offer", "normal", "card", "expected"),
    [
        (329_990, 399_990, 299_990, (329_990, "OFFER")),
        (None, 399_990, 299_990, (399_990, "NORMAL")),
        (None, None, 299_990, (299_990, "CARD")),
        (None, None, None, None),
        (0, 399_990, None, (0, "OFFER")),
    ],
)
def test_current_price_follows_the_seed(
    offer: int | None, normal: int | None, card: int | None, expected: tuple[int, str] | None
) -> None:
    assert current_price(offer, normal, card) == expected


def test_normalized_listing_keeps_every_price() -> None:
    [n] = of(run_retail([listing("ripley", "9", PHONE, 399_990, 349_990, 329_990)]), "NormalizedListing")
    assert (n["current_price"], n["price_source"]) == (349_990, "OFFER")
    assert (n["price_normal"], n["price_offer"], n["price_card"]) == (399_990, 349_990, 329_990)
    assert n["glitch_kinds"] == []
    assert n["event_id"] == f"norm:ripley:9:{T0}"
    assert n["source_event_id"] == f"ripley:9:{T0}"


def test_a_listing_without_any_price_is_rejected_not_dropped() -> None:
    out = run_retail([listing("hites", "5", PHONE, None)])
    assert [e.schema for e in out] == ["ListingRejected"]
    [r] = of(out, "ListingRejected")
    assert (r["reason"], r["detail"], r["event_id"]) == (
        "no_price",
        "no offer, normal or card price",
        f"rej:hites:5:{T0}",
    )


def test_a_zero_offer_is_a_glitch_and_a_rejection() -> None:
    out = run_retail([listing("abcdin", "5", PHONE, 399_990, offer=0)])
    [g] = of(out, "PriceGlitch")
    assert (g["kind"], g["severity"], g["price_field"], g["price"], g["affects_current_price"]) == (
        "non_positive_price",
        "CRITICAL",
        "offer",
        0,
        True,
    )
    [r] = of(out, "ListingRejected")
    assert (r["reason"], r["detail"]) == ("non_positive_price", "current price (offer) is 0 CLP")
    assert of(out, "NormalizedListing") == []


def test_ninety_percent_off_is_a_deep_discount() -> None:
    [g] = detect(49_990, 399_990, None, "phone", [], CFG)
    assert (g.kind, g.severity, g.price_field, g.price, g.reference, g.reference_price) == (
        "deep_discount",
        "CRITICAL",
        "offer",
        49_990,
        "price_normal",
        399_990,
    )
    assert g.change_ratio == -0.875022
    assert g.threshold == -0.5


def test_half_off_is_not_a_glitch_and_just_over_half_is() -> None:
    assert detect(200_000, 400_000, None, "phone", [], CFG) == []
    [g] = detect(199_999, 400_000, None, "phone", [], CFG)
    assert (g.kind, g.severity) == ("deep_discount", "HIGH")


def test_sudden_drop_against_the_rolling_median() -> None:
    assert rolling_median([400_000, 410_000, 390_000]) == 400_000
    assert rolling_median([400_000, 410_000, 390_000, 420_000]) == 400_000  # the lower middle
    [g] = detect(None, 150_000, None, "phone", [400_000, 410_000, 390_000], CFG)
    assert (g.kind, g.severity, g.reference, g.reference_price, g.change_ratio) == (
        "sudden_drop",
        "HIGH",
        "rolling_median",
        400_000,
        -0.625,
    )
    assert detect(None, 200_000, None, "phone", [400_000, 410_000, 390_000], CFG) == []


def test_sudden_drop_through_the_pipeline_uses_the_listings_own_history() -> None:
    recs = [listing("paris", "7", PHONE, p, t=T0 + i * HOUR) for i, p in enumerate([400_000, 410_000, 390_000, 90_000])]
    out = run_retail(recs)
    [g] = of(out, "PriceGlitch")
    assert (g["kind"], g["severity"], g["reference_price"], g["history_size"]) == ("sudden_drop", "HIGH", 400_000, 3)
    assert g["event_id"] == f"glitch:paris:7:{T0 + 3 * HOUR}:sudden_drop:current"
    last = of(out, "NormalizedListing")[-1]
    assert last["glitch_kinds"] == ["sudden_drop"]


def test_card_price_far_below_normal() -> None:
    [g] = detect(None, 400_000, 4_990, "phone", [], CFG)
    assert (g.kind, g.severity, g.price_field, g.price, g.affects_current) == (
        "card_far_below_normal",
        "HIGH",
        "card",
        4_990,
        False,
    )
    [g] = detect(None, 400_000, 150_000, "phone", [], CFG)
    assert (g.kind, g.severity) == ("card_far_below_normal", "MEDIUM")
    assert detect(None, 400_000, 300_000, "phone", [], CFG) == []


def test_absurd_and_below_the_category_floor() -> None:
    [g] = detect(None, 1, None, "phone", [], CFG)
    assert (g.kind, g.severity, g.reference, g.reference_price) == ("absurd_price", "CRITICAL", "absurd_floor", 1_000)
    [g] = detect(None, 19_990, None, "phone", [], CFG)
    assert (g.kind, g.severity, g.reference_price) == ("below_category_floor", "HIGH", 40_000)
    assert detect(None, 19_990, None, "headphones", [], CFG) == []
    [g] = detect(None, 60_000_000, None, "tv", [], CFG)
    assert (g.kind, g.reference) == ("absurd_price", "absurd_ceiling")


def test_thresholds_are_configurable() -> None:
    strict = GlitchConfig(discount_threshold=0.2)
    [g] = detect(300_000, 400_000, None, "phone", [], strict)
    assert (g.kind, g.threshold) == ("deep_discount", -0.2)


def test_glitch_records_encode() -> None:
    out = run_retail([listing("falabella", "3", PHONE, 400_000, 39_990, 990)])
    serde = AvroSerde()
    kinds = sorted((g["kind"], g["price_field"]) for g in of(out, "PriceGlitch"))
    assert kinds == [("below_category_floor", "current"), ("card_far_below_normal", "card"), ("deep_discount", "offer")]
    for e in out:
        serde.encode(e.schema, e.record)
