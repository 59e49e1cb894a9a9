"""Bars on event time: boundaries, grace, lateness, out-of-order ticks, sessions, clipping, price sources."""

from __future__ import annotations

import json
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.marketdata import MarketDataConfig
from tests.support.marketdata import MINUTE, SECOND, Harness, at, bogota, new_york, ohlc, span_of


def b(hms: str) -> int:
    """Monday 2026-03-02 (a USD/COP trading day), Bogota time."""
    return bogota(f"2026-03-02 {hms}")


def test_a_bar_closes_when_the_watermark_reaches_end_plus_grace():
    h = Harness()
    h.tick(b("08:00:00"), 4000.0, volume=1.0)
    h.tick(b("08:00:30"), 4010.0, volume=2.0)
    h.tick(b("08:00:59.999999"), 3990.0, volume=1.0)
    h.tick(b("08:01:00"), 4005.0, volume=3.0)  # on the boundary: the next bar
    h.heartbeat(b("08:01:01.999999"))
    assert h.bars() == []
    out = h.heartbeat(b("08:01:02"))
    assert [e.topic for e in out] == ["md.bars.v1", "md.indicators.v1"]
    assert all(e.key == "setfx:USD/COP" for e in out)
    start = b("08:00:00")
    assert h.bars() == [{
        "event_id": f"bar:setfx:USD/COP:60:{start}:r0",
        "event_time": start + MINUTE,
        "venue": "setfx",
        "symbol": "USD/COP",
        "interval_s": 60,
        "start": start,
        "end": start + MINUTE,
        "open": 4000.0,
        "high": 4010.0,
        "low": 3990.0,
        "close": 3990.0,
        "volume": 4.0,
        "vwap": 4002.5,
        "tick_count": 3,
        "price_source": "LAST",
        "session": "regular",
        "revision": 0,
        "first_tick_id": "setfx:USD/COP:1",
        "last_tick_id": "setfx:USD/COP:3",
    }]
    indicators = h.records("IndicatorSet")
    assert indicators[0]["event_id"] == f"ind:bar:setfx:USD/COP:60:{start}:r0"
    assert indicators[0]["close"] == 3990.0
    assert indicators[0]["sma"] is None and indicators[0]["macd"] is None and indicators[0]["atr"] is None


def test_a_tick_within_grace_updates_its_closed_interval_out_of_order():
    h = Harness()
    h.tick(b("08:00:10"), 4000.0)
    h.tick(b("08:01:01"), 4001.0)  # watermark 08:01:01: bar 08:00 still open (until 08:01:02)
    h.tick(b("08:00:50"), 4100.0)  # out of order, within grace
    h.heartbeat(b("08:01:02"))
    (bar,) = h.bars()
    assert ohlc(bar) == (4000.0, 4100.0, 4000.0, 4100.0)
    assert bar["tick_count"] == 2
    assert bar["last_tick_id"] == "setfx:USD/COP:3"
    assert h.records("LateTick") == []


def test_a_tick_beyond_grace_is_late_kept_and_counted_never_added():
    h = Harness()
    h.tick(b("08:00:10"), 4000.0)
    h.tick(b("08:01:01.999999"), 4001.0)
    h.tick(b("08:00:59"), 4002.0)  # watermark 08:01:01.999999 < 08:01:02: still on time
    h.tick(b("08:01:02.5"), 4003.0)  # closes bar 08:00
    out = h.tick(b("08:00:59.5"), 3000.0, volume=7.0, produced_us=b("08:01:03"))
    assert [e.topic for e in out] == ["md.late-ticks.v1"]
    late = out[0].record
    assert late == {
        "event_id": "late:setfx:USD/COP:5",
        "event_time": b("08:00:59.5"),
        "venue": "setfx",
        "symbol": "USD/COP",
        "watermark": b("08:01:02.5"),
        "lateness_us": 3 * SECOND,
        "tick": {
            "event_id": "setfx:USD/COP:5", "event_time": b("08:00:59.5"), "venue": "setfx", "symbol": "USD/COP",
            "bid": None, "ask": None, "last": 3000.0, "volume": 7.0, "sequence": 5, "backfill_id": None,
        },
    }
    (bar,) = h.bars()
    assert ohlc(bar) == (4000.0, 4002.0, 4000.0, 4002.0)
    assert bar["tick_count"] == 2
    h.heartbeat(b("08:02:02"))
    assert [ohlc(x) for x in h.bars()] == [(4000.0, 4002.0, 4000.0, 4002.0), (4001.0, 4003.0, 4001.0, 4003.0)]
    assert h.processor.counters["late_ticks"] == 1


def test_open_and_close_follow_event_time_then_sequence_not_arrival():
    h = Harness()
    for t, price, seq in [("08:00:30", 2.0, 3), ("08:00:10", 1.0, 1), ("08:00:50", 3.0, 6), ("08:00:20", 5.0, 2),
                          ("08:00:50", 4.0, 5), ("08:00:10", 0.5, 7)]:
        h.tick(b(t), price, seq=seq)
    h.heartbeat(b("08:01:02"))
    (bar,) = h.bars()
    assert ohlc(bar) == (1.0, 5.0, 0.5, 3.0)
    assert (bar["first_tick_id"], bar["last_tick_id"]) == ("setfx:USD/COP:1", "setfx:USD/COP:6")


def test_usdcop_bars_only_between_0800_and_1255_bogota():
    h = Harness()
    h.tick(b("07:59:59"), 3999.0)  # off session
    minute = b("08:00:00")
    while minute < b("12:55:00"):
        h.tick(minute + 30 * SECOND, 4000.0)
        minute += MINUTE
    h.tick(b("12:55:00"), 4001.0)  # off session: the close is exclusive
    h.heartbeat(b("13:00:02"))
    bars = h.bars()
    assert len(bars) == 295
    assert span_of(bars[0]) == (b("08:00:00"), b("08:01:00"))
    assert span_of(bars[-1]) == (b("12:54:00"), b("12:55:00"))
    fives = h.bars(300)
    assert len(fives) == 59
    assert span_of(fives[-1]) == (b("12:50:00"), b("12:55:00"))
    assert fives[-1]["tick_count"] == 5
    assert {x["session"] for x in bars + fives} == {"regular"}
    assert h.gaps() == [] and h.gaps(300) == []
    assert h.processor.counters["off_session_ticks"] == 2
    quality = h.records("DataQuality")
    assert [(q["hour_start"], q["expected_bars"], q["present_bars"], q["tick_count"]) for q in quality] == [
        (b("07:00:00"), 0, 0, 1),  # the off-session tick shows in its hour
        (b("08:00:00"), 60, 60, 60),
        (b("09:00:00"), 60, 60, 60),
        (b("10:00:00"), 60, 60, 60),
        (b("11:00:00"), 60, 60, 60),
        (b("12:00:00"), 55, 55, 56),
    ]


def test_colombian_holiday_gives_no_bars_and_no_gaps():
    h = Harness()
    t = bogota("2026-11-16 07:00:00")  # Monday, Independence of Cartagena (observed)
    ticks = 0
    while t < bogota("2026-11-16 14:00:00"):
        if t % (10 * MINUTE) == 0:
            h.tick(t, 4000.0)
            ticks += 1
        else:
            h.heartbeat(t)
        t += 30 * SECOND
    h.heartbeat(bogota("2026-11-16 15:00:02"))
    assert h.bars() == [] and h.bars(300) == [] and h.gaps() == [] and h.gaps(300) == []
    assert h.processor.counters["off_session_ticks"] == ticks == 42
    quality = h.records("DataQuality")
    assert len(quality) == 7
    assert all(q["expected_bars"] == 0 and q["coverage_pct"] is None and q["tick_count"] == 6 for q in quality)


def test_us_equity_bars_follow_the_dst_switch_and_carry_their_session():
    h = Harness("nasdaq:AAPL")
    for day in ("2026-03-06", "2026-03-09"):
        h.tick(new_york(f"{day} 03:59:30"), 100.0)  # before pre-market
        h.tick(new_york(f"{day} 04:00:10"), 101.0)
        h.tick(new_york(f"{day} 09:30:10"), 102.0)
        h.tick(new_york(f"{day} 16:00:10"), 103.0)
        h.tick(new_york(f"{day} 19:59:10"), 104.0)
        h.tick(new_york(f"{day} 20:00:10"), 105.0)  # after post-market
        h.heartbeat(new_york(f"{day} 21:00:00"))
    got = [(x["start"], x["session"], x["close"]) for x in h.bars()]
    assert got == [
        (at("2026-03-06 09:00:00"), "pre", 101.0),
        (at("2026-03-06 14:30:00"), "regular", 102.0),
        (at("2026-03-06 21:00:00"), "post", 103.0),
        (at("2026-03-07 00:59:00"), "post", 104.0),
        (at("2026-03-09 08:00:00"), "pre", 101.0),  # EDT from Sunday 2026-03-08: an hour earlier in UTC
        (at("2026-03-09 13:30:00"), "regular", 102.0),
        (at("2026-03-09 20:00:00"), "post", 103.0),
        (at("2026-03-09 23:59:00"), "post", 104.0),
    ]
    assert h.processor.counters["off_session_ticks"] == 4


def test_nyse_early_close_ends_regular_at_1300_and_post_at_1700():
    h = Harness("nasdaq:AAPL")
    h.tick(new_york("2026-11-27 12:59:30"), 100.0)
    h.tick(new_york("2026-11-27 13:00:00"), 101.0)
    h.tick(new_york("2026-11-27 16:59:59"), 102.0)
    h.tick(new_york("2026-11-27 17:00:00"), 103.0)  # off session
    h.heartbeat(new_york("2026-11-27 17:10:00"))
    assert [(x["start"], x["end"], x["session"]) for x in h.bars()] == [
        (new_york("2026-11-27 12:59:00"), new_york("2026-11-27 13:00:00"), "regular"),
        (new_york("2026-11-27 13:00:00"), new_york("2026-11-27 13:01:00"), "post"),
        (new_york("2026-11-27 16:59:00"), new_york("2026-11-27 17:00:00"), "post"),
    ]
    assert h.processor.counters["off_session_ticks"] == 1


def test_an_interval_that_straddles_a_session_boundary_is_clipped_into_one_bar_per_session():
    h = Harness("nasdaq:AAPL", MarketDataConfig(intervals_s=(60, 3600)))
    h.tick(new_york("2026-03-09 09:10:00"), 100.0)
    h.tick(new_york("2026-03-09 09:40:00"), 101.0)
    h.heartbeat(new_york("2026-03-09 10:00:02"))
    assert [(x["start"], x["end"], x["session"]) for x in h.bars(3600)] == [
        (new_york("2026-03-09 09:00:00"), new_york("2026-03-09 09:30:00"), "pre"),
        (new_york("2026-03-09 09:30:00"), new_york("2026-03-09 10:00:00"), "regular"),
    ]


def test_five_minute_bars_are_the_one_minute_bars_aggregated():
    rng = random.Random(5)
    h = Harness("binance:BTC/USDT")
    t = at("2026-03-02 23:50:00")
    for _ in range(900):
        t += rng.randrange(1, 2 * SECOND)
        h.tick(t, round(rng.uniform(60_000, 61_000), 2), volume=rng.choice([0.0, 0.25, 1.5, 0.001]))
    h.heartbeat(t + 10 * MINUTE)
    ones, fives = h.bars(60), h.bars(300)
    assert fives and {x["session"] for x in fives} == {"24x7"}
    for five in fives:
        parts = [x for x in ones if five["start"] <= x["start"] < five["end"]]
        assert five["open"] == parts[0]["open"] and five["close"] == parts[-1]["close"]
        assert five["high"] == max(x["high"] for x in parts) and five["low"] == min(x["low"] for x in parts)
        assert five["tick_count"] == sum(x["tick_count"] for x in parts)
        assert five["volume"] == math.fsum(x["volume"] for x in parts)
        assert five["first_tick_id"] == parts[0]["first_tick_id"] and five["last_tick_id"] == parts[-1]["last_tick_id"]
    assert [x["start"] for x in fives][:3] == [at("2026-03-02 23:50:00"), at("2026-03-02 23:55:00"),
                                               at("2026-03-03 00:00:00")]


def test_vwap_is_null_without_volume_and_prices_fall_back_between_last_and_mid():
    h = Harness()
    h.tick(b("08:00:01"), None, bid=3999.0, ask=4001.0)  # LAST falls back to the mid
    h.tick(b("08:00:02"), 4003.0, bid=3999.0, ask=4001.0)
    h.tick(b("08:00:03"), None)  # no price at all: counted, no bar
    h.tick(b("08:00:04"), float("nan"))
    h.tick(b("08:00:05"), 4001.0, volume=float("inf"))
    h.tick(b("08:00:06"), 4001.0, volume=5.0, backfill_id="bf", seq=99)  # buffered: its volume is fine
    h.tick(b("08:00:07"), float("-inf"), backfill_id="bf", seq=100)
    h.heartbeat(b("08:01:02"))
    (bar,) = h.bars()
    assert ohlc(bar) == (4000.0, 4003.0, 4000.0, 4003.0)
    assert (bar["volume"], bar["vwap"], bar["tick_count"]) == (0.0, None, 2)
    assert h.processor.counters["invalid_ticks"] == 4
    assert json.loads(json.dumps(h.processor.snapshot()))["counters"]["invalid_ticks"] == 4

    mid = Harness(config=MarketDataConfig(price_source="MID"))
    mid.tick(b("08:00:01"), 4003.0, bid=3999.0, ask=4001.0)
    mid.tick(b("08:00:02"), 4007.0)  # MID falls back to the last trade
    mid.heartbeat(b("08:01:02"))
    (bar,) = mid.bars()
    assert ohlc(bar) == (4000.0, 4007.0, 4000.0, 4007.0)
    assert bar["price_source"] == "MID"


def test_backfill_ticks_and_unknown_schemas():
    h = Harness()
    h.tick(b("08:00:01"), 4000.0)
    h.tick(b("09:00:00"), 4100.0, backfill_id="bf-1")  # buffered: moves nothing
    assert h.processor.watermark == b("08:00:01")
    out = h.feed("mercado.marketdata.Heartbeat", {"event_id": "hb", "event_time": b("08:01:02"),
                                                  "source": "setfx:USD/COP"})
    assert [e.schema for e in out] == ["Bar", "IndicatorSet"]
    try:
        h.processor.on_event("OrderFilled", {"event_time": 0})
    except ValueError as exc:
        assert "OrderFilled" in str(exc)
    else:
        raise AssertionError("an unexpected schema must be refused")


def test_bars_equal_a_brute_force_grouping_of_the_on_time_ticks():
    """Oracle: a tick counts iff, when it arrives, its 1-minute interval's end + grace is still ahead of
    the watermark (the watermark includes the tick itself); bars are those ticks grouped by interval."""
    rng = random.Random(17)
    h = Harness()
    grace = MarketDataConfig().grace_us
    watermark = 0
    accepted: dict[int, list[tuple[int, int, float]]] = {}
    t = b("07:58:00")
    for seq in range(1, 4000):
        t += rng.randrange(0, 9 * SECOND)
        when = t - (rng.randrange(0, 30 * SECOND) if rng.random() < 0.15 else 0)
        price = float(rng.randrange(3900, 4100))
        if rng.random() < 0.05:
            h.heartbeat(t + rng.randrange(0, 5 * SECOND))
            watermark = max(watermark, h.processor.watermark)
        h.tick(when, price, seq=seq)
        watermark = max(watermark, when)
        start = when - when % MINUTE
        in_session = b("08:00:00") <= when < b("12:55:00")
        if in_session and start + MINUTE + grace > watermark:
            accepted.setdefault(start, []).append((when, seq, price))
    h.heartbeat(watermark + 10 * MINUTE)
    expected = []
    for start, rows in sorted(accepted.items()):
        rows.sort()
        prices = [p for _, _, p in rows]
        expected.append((start, rows[0][2], max(prices), min(prices), rows[-1][2], len(rows)))
    got = [(x["start"], *ohlc(x), x["tick_count"]) for x in h.bars()]
    assert got == expected
    late = len(h.records("LateTick"))
    assert late > 0 and late == h.processor.counters["late_ticks"]


@given(
    st.lists(st.tuples(st.floats(0.01, 1e6), st.floats(0.0, 1e4), st.booleans()), min_size=1, max_size=60),
)
@settings(max_examples=200, deadline=None)
def test_open_bar_snapshots_fold_sums_without_changing_totals(ticks: list[tuple[float, float, bool]]) -> None:
    """A snapshot folds the bar's volume and notional lists into exact sums (so the next one sums only
    what came since); the totals, a restore and a later snapshot are the same as without it."""
    from processors.marketdata.bars import OpenBar
    from processors.marketdata.calendars import Session as BarSession

    session = BarSession("24x7", 0, 10**12)

    def bar(snapshot_at: bool) -> tuple[OpenBar, list]:
        (p0, v0, _), *rest = ticks
        b = OpenBar(0, 60_000_000, session, 1, p0, v0, {"event_id": "t0", "sequence": 0})
        snaps = []
        for i, (price, volume, snap) in enumerate(rest, 1):
            b.add(1 + i, price, volume, {"event_id": f"t{i}", "sequence": i})
            if snapshot_at and snap:
                snaps.append(b.snapshot())
        return b, snaps

    plain, _ = bar(False)
    folded, snaps = bar(True)
    assert folded.totals() == plain.totals() == (math.fsum(v for _, v, _ in ticks),
                                                 math.fsum(p * v for p, v, _ in ticks if v))
    assert folded.snapshot() == plain.snapshot()
    assert OpenBar.restore(plain.snapshot()).totals() == plain.totals()


# ------------------------------------------------------------------ exact sums
def _scaled_sum_by_fractions(values: list[float]) -> int:
    from fractions import Fraction

    return int(sum((Fraction(v) for v in values), Fraction(0)) * 2**1074)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=0, max_size=200))
@settings(max_examples=300)
def test_exact_scaled_sum_is_exact_for_any_doubles(values: list[float]) -> None:
    # every double is a multiple of 2**-1074, so the scaled sum is an integer; both the per-value loop and
    # the numpy path (from 32 values) must give exactly the sum of the values as fractions
    from processors.marketdata.bars import _exact_scaled_sum_loop, exact_scaled_sum

    assert exact_scaled_sum(values) == _exact_scaled_sum_loop(values) == _scaled_sum_by_fractions(values)
    assert exact_scaled_sum(values * 40) == 40 * _scaled_sum_by_fractions(values)  # numpy path for any list


def test_exact_scaled_sum_edges() -> None:
    from processors.marketdata.bars import exact_scaled_sum, rounded_scaled

    subnormals = [5e-324, -5e-324, 2.5e-320, 1e-310] * 10
    assert exact_scaled_sum(subnormals) == _scaled_sum_by_fractions(subnormals) > 0
    assert exact_scaled_sum([5e-324] * 40) == 40  # the smallest subnormal is 2**-1074
    huge = [1.7976931348623157e308] * 64  # 64 of the largest double: the int64 halves must not overflow
    assert exact_scaled_sum(huge) == 64 * int(1.7976931348623157e308) * 2**1074
    values = [0.1] * 1000
    assert rounded_scaled(exact_scaled_sum(values)) == math.fsum(values)
    for bad, error in (([math.inf] * 40, OverflowError), ([math.nan] * 40, ValueError)):
        try:
            exact_scaled_sum(bad)
        except error:
            continue
        raise AssertionError(f"{bad[0]} must raise {error.__name__}")


@given(st.integers(min_value=-(2**1200), max_value=2**1200), st.integers(min_value=0, max_value=1100))
@settings(max_examples=300)
def test_exact_sum_text_round_trips_and_reads_plain_hex(mantissa: int, shift: int) -> None:
    """A snapshot writes an exact sum as mantissa and binary exponent (the ~1,000 trailing zero bits of a
    sum of ordinary doubles dropped); it reads back the same integer, as does the plain hex of earlier
    snapshots."""
    from processors.marketdata.bars import scaled_from_text, scaled_text

    total = mantissa << shift
    text = scaled_text(total)
    assert scaled_from_text(text) == total
    assert scaled_from_text(hex(total)) == total
    if total:
        assert (int(text.partition("p")[0], 16) & 1) == 1  # no trailing zero bit is written


def test_exact_sum_text_of_ordinary_doubles_is_short() -> None:
    from processors.marketdata.bars import exact_scaled_sum, scaled_text

    total = exact_scaled_sum([1.5, 2.25])
    assert scaled_text(total) == "0xfp1072" and len(hex(total)) > 250  # 3.75 = 15 × 2**-2
