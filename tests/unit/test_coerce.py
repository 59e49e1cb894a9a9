"""Row coercion: file values (CSV text, JSON, Parquet) into Avro-ready records, errors naming fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import load_schemas
from streams.codec.coerce import RowError, record_coercer, timestamp_micros

TICK = record_coercer(load_schemas()["PriceTick"])
FILL = record_coercer(load_schemas()["OrderFilled"])
SNAP = record_coercer(load_schemas()["ScanSnapshot"])

CSV_TICK = {
    "event_id": "setfx:USD/COP:1",
    "event_time": "2026-11-20T13:00:00.250000Z",
    "venue": "setfx",
    "symbol": "USD/COP",
    "bid": "4012.5",
    "ask": "4013",
    "last": "",
    "volume": "250000",
    "sequence": "1",
}


def test_csv_text_becomes_typed_values() -> None:
    assert TICK(CSV_TICK) == {
        "event_id": "setfx:USD/COP:1",
        "event_time": 1_795_179_600_250_000,
        "venue": "setfx",
        "symbol": "USD/COP",
        "bid": 4012.5,
        "ask": 4013.0,
        "last": None,
        "volume": 250000.0,
        "sequence": 1,
        "backfill_id": None,
    }


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2026-11-20T13:00:00Z", 1_795_179_600_000_000),
        ("2026-11-20T08:00:00-05:00", 1_795_179_600_000_000),
        ("2026-11-20T13:00:00.000001+00:00", 1_795_179_600_000_001),
        ("2026-11-20 13:00:00", 1_795_179_600_000_000),  # naive means UTC
        ("1795179600000000", 1_795_179_600_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
    ],
)
def test_timestamps(text: str, micros: int) -> None:
    assert timestamp_micros(text) == micros


def test_datetime_and_int_timestamps() -> None:
    assert timestamp_micros(datetime(2026, 11, 20, 13, tzinfo=UTC)) == 1_795_179_600_000_000
    assert timestamp_micros(5) == 5


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"bid": "abc"}, "bid", "expected a number"),
        ({"sequence": "1.5"}, "sequence", "expected an integer"),
        ({"sequence": str(2**63)}, "sequence", "long range"),
        ({"event_time": "yesterday"}, "event_time", "ISO-8601"),
        ({"venue": ""}, "venue", "is required and missing"),
        ({"surprise": "1"}, "surprise", "is not a field of PriceTick"),
    ],
)
def test_bad_values_name_the_field(change: dict, field: str, fragment: str) -> None:
    with pytest.raises(RowError) as info:
        TICK({**CSV_TICK, **change})
    assert info.value.field == field
    assert fragment in str(info.value)


def test_missing_required_field() -> None:
    row = {k: v for k, v in CSV_TICK.items() if k != "sequence"}
    with pytest.raises(RowError) as info:
        TICK(row)
    assert info.value.field == "sequence"


def test_missing_optional_field_takes_its_default() -> None:
    row = {k: v for k, v in CSV_TICK.items() if k not in ("bid", "volume")}
    rec = TICK(row)
    assert rec["bid"] is None and rec["volume"] == 0.0


FILL_ROW = {
    "event_id": "o1:filled:1",
    "event_time": "2026-11-20T10:00:00Z",
    "account": "mm-1",
    "venue": "binance",
    "symbol": "BTC/USDT",
    "client_order_id": "o1",
    "venue_order_id": "v1",
    "trade_id": "t1",
    "side": "BUY",
    "fill_price": "91234.5",
    "fill_quantity": "0.0015",
    "fee": "-0.01",
    "fee_currency": "USDT",
}


def test_decimals_are_exact() -> None:
    rec = FILL(FILL_ROW)
    assert rec["fill_price"] == Decimal("91234.5")
    assert rec["fill_quantity"] == Decimal("0.0015")
    assert FILL({**FILL_ROW, "fill_price": 0.1})["fill_price"] == Decimal("0.1")  # not 0.1000000000000000055…


def test_decimal_beyond_scale_is_rejected() -> None:
    with pytest.raises(RowError) as info:
        FILL({**FILL_ROW, "fee": "0.0000000000001"})
    assert info.value.field == "fee" and "12 decimal places" in str(info.value)


def test_enum_symbol_is_checked() -> None:
    with pytest.raises(RowError) as info:
        FILL({**FILL_ROW, "side": "HOLD"})
    assert info.value.field == "side" and "BUY, SELL" in str(info.value)


def test_nested_rows_report_their_path() -> None:
    row = {
        "ticker": "AAPL",
        "price": 1.0,
        "prev_close": 1.0,
        "change_pct": 0.0,
        "gap_pct": 0.0,
        "volume": 10,
        "avg_volume": 10,
    }
    snap = {
        "event_id": "s",
        "event_time": 0,
        "session": "REGULAR",
        "taken_at": 0,
        "rows": [row, {**row, "volume": "lots"}],
    }
    with pytest.raises(RowError) as info:
        SNAP(snap)
    assert info.value.field == "rows[1].volume"
    assert SNAP({**snap, "rows": [row]})["rows"][0]["relative_volume"] is None


def test_nested_data_from_csv_is_explained() -> None:
    snap = {"event_id": "s", "event_time": "0", "session": "REGULAR", "taken_at": "0", "rows": "[]"}
    with pytest.raises(RowError, match="JSON Lines or Parquet"):
        SNAP(snap)


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_integer_timestamps_round_trip_through_iso(micros: int) -> None:
    from datetime import timedelta

    try:
        text = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)).isoformat()
    except OverflowError:
        return
    assert timestamp_micros(text) == micros
