"""processors/admission.py: each rule alone with its exact message, the whole door check, and the batch
screen of the producer's Parquet fast path agreeing with the check of one record."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.admission import (
    _RULES,
    AdmissionConfig,
    Violation,
    batch_admitted,
    domain_violations,
    time_violation,
    violations,
)
from streams.codec.serde import AvroSerde

CONFIG = AdmissionConfig()
NOW = 1_796_515_200_000_000  # 2026-12-06T00:00:00Z
DAY = 1_795_132_800_000_000  # 2026-11-20T00:00:00Z
TICK: dict[str, Any] = {
    "event_id": "binance:BTC/USDT:1",
    "event_time": DAY,
    "venue": "binance",
    "symbol": "BTC/USDT",
    "bid": 64_000.0,
    "ask": 64_000.5,
    "last": 64_000.25,
    "volume": 0.25,
    "sequence": 1,
    "backfill_id": None,
}


def tick(**changes: Any) -> dict[str, Any]:
    return {**TICK, **changes}


# ------------------------------------------------------------------------------------------ each rule
def test_a_valid_tick_is_admitted() -> None:
    assert violations("PriceTick", TICK, NOW, CONFIG) == []
    assert violations("mercado.marketdata.PriceTick", TICK, NOW, CONFIG) == []


def test_floor() -> None:
    floor = CONFIG.floor_us
    assert floor == 946_684_800_000_000
    assert time_violation(floor, NOW, CONFIG) is None
    assert time_violation(floor - 1, NOW, CONFIG) == Violation(
        "event_time", "1999-12-31T23:59:59.999999Z is before the floor 2000-01-01T00:00:00Z"
    )
    # a seconds value where microseconds were meant lands in 1970
    assert violations("PriceTick", tick(event_time=1_795_132_800), NOW, CONFIG) == [
        Violation("event_time", "1970-01-01T00:29:55.132800Z is before the floor 2000-01-01T00:00:00Z")
    ]


def test_floor_is_configurable() -> None:
    config = AdmissionConfig(floor=datetime(2026, 1, 1, tzinfo=UTC))
    assert time_violation(DAY, NOW, config) is None
    assert time_violation(1_767_225_599_000_000, NOW, config) == Violation(
        "event_time", "2025-12-31T23:59:59Z is before the floor 2026-01-01T00:00:00Z"
    )


def test_ahead_of_the_wall_clock() -> None:
    assert time_violation(NOW + 300_000_000, NOW, CONFIG) is None  # exactly the bound: admitted
    assert time_violation(NOW + 301_000_000, NOW, CONFIG) == Violation(
        "event_time",
        "2026-12-06T00:05:01Z is 301 s ahead of the time it was produced (2026-12-06T00:00:00Z; bound 300 s)",
    )
    year_2999 = 32_472_144_000_000_000
    assert violations("PriceTick", tick(event_time=year_2999), NOW, CONFIG) == [
        Violation(
            "event_time",
            "2999-01-01T00:00:00Z is 30,675,628,800 s ahead of the time it was produced "
            "(2026-12-06T00:00:00Z; bound 300 s)",
        )
    ]


def test_max_ahead_is_configurable() -> None:
    config = AdmissionConfig(max_ahead_s=0)
    assert time_violation(NOW, NOW, config) is None
    assert time_violation(NOW + 1, NOW, config) is not None
    assert time_violation(NOW + 3_600_000_000, NOW, AdmissionConfig(max_ahead_s=3600)) is None


@pytest.mark.parametrize(
    ("value", "shown"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")]
)
@pytest.mark.parametrize("name", ["bid", "ask", "last", "volume"])
def test_non_finite_numbers(name: str, value: float, shown: str) -> None:
    assert violations("PriceTick", tick(**{name: value}), NOW, CONFIG) == [
        Violation(name, f"{shown} is not a finite number")
    ]


def test_non_finite_anywhere_even_in_unknown_record_types_and_nested_rows() -> None:
    assert domain_violations("Anything", {"a": {"b": [1.0, math.nan]}}) == [
        Violation("a.b[1]", "nan is not a finite number")
    ]
    assert domain_violations("OrderFilled", {"fee": Decimal("NaN")}) == [
        Violation("fee", "NaN is not a finite number")
    ]


def test_negative_price() -> None:
    assert violations("PriceTick", tick(last=-1.5), NOW, CONFIG) == [Violation("last", "-1.5 must be > 0")]


def test_zero_price() -> None:
    assert violations("PriceTick", tick(bid=0.0), NOW, CONFIG) == [Violation("bid", "0.0 must be > 0")]


def test_crossed_quote() -> None:
    assert violations("PriceTick", tick(bid=64_001.0, ask=64_000.5), NOW, CONFIG) == [
        Violation("bid", "crossed quote: bid 64001.0 > ask 64000.5")
    ]
    assert violations("PriceTick", tick(bid=64_000.5, ask=64_000.5), NOW, CONFIG) == []  # locked: admitted
    assert violations("PriceTick", tick(bid=None, ask=None, last=64_000.0), NOW, CONFIG) == []  # trades only


def test_negative_volume() -> None:
    assert violations("PriceTick", tick(volume=-0.25), NOW, CONFIG) == [Violation("volume", "-0.25 must be >= 0")]
    assert violations("PriceTick", tick(volume=0.0), NOW, CONFIG) == []


def test_order_quantity_zero() -> None:
    order = {"event_time": DAY, "quantity": Decimal("0"), "price": Decimal("64000")}
    assert violations("OrderSubmitted", order, NOW, CONFIG) == [Violation("quantity", "0 must be > 0")]
    assert violations("OrderSubmitted", {**order, "quantity": Decimal("0.001"), "price": None}, NOW, CONFIG) == []
    fill = {"event_time": DAY, "fill_price": Decimal("64000"), "fill_quantity": Decimal("-1")}
    assert violations("OrderFilled", fill, NOW, CONFIG) == [Violation("fill_quantity", "-1 must be > 0")]


def test_negative_latency() -> None:
    assert violations("VenueHealth", {"event_time": DAY, "latency_ms": -3.0}, NOW, CONFIG) == [
        Violation("latency_ms", "-3.0 must be >= 0")
    ]
    assert violations("OrderAccepted", {"event_time": DAY, "ack_latency_ms": -0.5}, NOW, CONFIG) == [
        Violation("ack_latency_ms", "-0.5 must be >= 0")
    ]


def test_scan_rows_and_backfill_ranges() -> None:
    rows = [{"price": 10.0, "volume": 5}, {"price": 0.0, "volume": -1}]
    assert domain_violations("ScanSnapshot", {"rows": rows}) == [
        Violation("rows[1].price", "0.0 must be > 0"),
        Violation("rows[1].volume", "-1 must be >= 0"),
    ]
    assert domain_violations("BackfillComplete", {"start": DAY + 1, "end": DAY, "tick_count": 3}) == [
        Violation("start", "2026-11-20T00:00:00.000001Z is after end 2026-11-20T00:00:00Z")
    ]


def test_time_comes_first_then_every_domain_violation() -> None:
    found = violations("PriceTick", tick(event_time=0, bid=2.0, ask=1.0, volume=math.nan), NOW, CONFIG)
    assert [v.field for v in found] == ["event_time", "volume", "bid"]


def test_every_rule_names_a_field_of_its_schema_whose_default_is_admitted() -> None:
    """The columnar screen treats a column absent from a batch as its schema default: no default may
    break a rule (and a misspelt field name in the rules would never be checked)."""
    schemas = AvroSerde().schemas
    for name, rules in _RULES.items():
        fields = {f["name"]: f for f in schemas[name].expanded["fields"]}
        if rules.rows is not None:
            item_fields = {f["name"]: f for f in fields["rows"]["type"]["items"]["fields"]}
            for field in rules.rows.positive + rules.rows.not_negative:
                assert field in item_fields, (name, field)
        named = rules.positive + rules.not_negative + tuple(n for o in rules.ordered for n in (o.low, o.high))
        for field in named:
            assert field in fields, (name, field)
            if "default" in fields[field]:
                assert domain_violations(name, {field: fields[field]["default"]}) == [], (name, field)


# ------------------------------------------------------------------------------------------ properties
PRICE = st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False)
IN_BOUNDS = st.integers(min_value=CONFIG.floor_us, max_value=NOW + CONFIG.max_ahead_us)


@settings(max_examples=300, deadline=None)
@given(t=IN_BOUNDS, bid=PRICE, spread=st.floats(min_value=0, max_value=1e6), last=PRICE,
       volume=st.floats(min_value=0, max_value=1e12), sequence=st.integers(min_value=0, max_value=2**63 - 1))
def test_any_finite_positive_tick_within_bounds_is_admitted(
    t: int, bid: float, spread: float, last: float, volume: float, sequence: int
) -> None:
    record = tick(event_time=t, bid=bid, ask=bid + spread, last=last, volume=volume, sequence=sequence)
    assert violations("PriceTick", record, NOW, CONFIG) == []


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["PriceTick", "VenueHealth", "OrderAccepted", "ScanSnapshot", "Anything"]),
    record=st.dictionaries(st.sampled_from(["bid", "ask", "last", "volume", "latency_ms", "x"]),
                           st.floats(allow_nan=True, allow_infinity=True), min_size=1),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    where=st.sampled_from(["top", "nested", "list"]),
)
def test_any_record_with_a_nan_or_inf_anywhere_is_refused(
    name: str, record: dict[str, float], bad: float, where: str
) -> None:
    if where == "top":
        record = {**record, "some_field": bad}
    elif where == "nested":
        record = {**record, "inner": {"value": bad}}
    else:
        record = {**record, "rows": [{"price": 1.0}, {"price": bad}]}
    found = domain_violations(name, record)
    assert any(v.message.endswith("is not a finite number") for v in found)
    assert violations(name, {**record, "event_time": DAY}, NOW, CONFIG)


# ------------------------------------------------------------------------------------------ batches
def columns(records: list[dict[str, Any]], names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The numeric columns of ``records`` as the producer passes them (nulls as NaN, with a mask)."""
    out = {}
    for name in names:
        values = [r.get(name) for r in records]
        valid = np.array([v is not None for v in values])
        array = np.array([math.nan if v is None else v for v in values],
                         dtype=np.int64 if name in ("event_time", "sequence") else np.float64)
        out[name] = (array, None if valid.all() else valid)
    return out


VALUE = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 1.0, 2.0]))
TIME = st.one_of(IN_BOUNDS, st.integers(min_value=0, max_value=2**62), st.sampled_from([CONFIG.floor_us - 1]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.fixed_dictionaries({"event_time": TIME, "bid": VALUE, "ask": VALUE, "last": VALUE,
                                       "volume": st.floats(allow_nan=True, allow_infinity=True),
                                       "sequence": st.integers(min_value=-5, max_value=5)}),
                min_size=1, max_size=8))
def test_the_batch_screen_admits_exactly_the_batches_whose_every_row_is_admitted(rows: list[dict[str, Any]]) -> None:
    expected = all(not violations("PriceTick", r, NOW, CONFIG) for r in rows)
    names = ["event_time", "bid", "ask", "last", "volume", "sequence"]
    assert batch_admitted("PriceTick", columns(rows, names), NOW, CONFIG) == expected


def test_the_batch_screen_per_rule() -> None:
    good = [tick(), tick(event_time=DAY + 1, sequence=2)]
    names = ["event_time", "bid", "ask", "last", "volume", "sequence"]
    assert batch_admitted("PriceTick", columns(good, names), NOW, CONFIG)
    for bad in (tick(event_time=NOW + 301_000_000), tick(event_time=0), tick(bid=math.nan), tick(last=-1.0),
                tick(bid=2e5), tick(volume=-1.0), tick(sequence=-1)):
        assert not batch_admitted("PriceTick", columns([*good, bad], names), NOW, CONFIG), bad
    health = [{"event_time": DAY, "latency_ms": 3.0}, {"event_time": DAY, "latency_ms": -3.0}]
    assert batch_admitted("VenueHealth", columns(health[:1], ["event_time", "latency_ms"]), NOW, CONFIG)
    assert not batch_admitted("VenueHealth", columns(health, ["event_time", "latency_ms"]), NOW, CONFIG)
    assert batch_admitted("Heartbeat", columns([{"event_time": DAY}], ["event_time"]), NOW, CONFIG)
    assert not batch_admitted("ScanSnapshot", columns([{"event_time": DAY}], ["event_time"]), NOW, CONFIG)
    assert not batch_admitted("PriceTick", {}, NOW, CONFIG)  # no event times: go row by row


def test_a_retail_listing_at_zero_is_admitted_for_the_glitch_detector() -> None:
    """A 0 CLP price is what the retailer's page showed; processors/retail/glitches.py reports it
    (non_positive_price). Negative prices are refused."""
    listing = {"event_time": DAY, "price_normal": 152_990, "price_offer": 0, "price_card": None, "rating": 4.3}
    assert violations("RetailListing", listing, NOW, CONFIG) == []
    assert violations("RetailListing", {**listing, "price_offer": -1}, NOW, CONFIG) == [
        Violation("price_offer", "-1 must be >= 0")
    ]
