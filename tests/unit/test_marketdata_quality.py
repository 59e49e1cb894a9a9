"""Data quality per key and hour: coverage, ticks, late ticks, inter-tick gaps, latency percentiles."""

from __future__ import annotations

import orjson

from processors.marketdata import CalendarBook, MarketDataConfig, Session
from processors.marketdata.calendars import AlwaysOpenCalendar, SessionCalendar, Span
from processors.marketdata.quality import HourStats, expected_bars, nearest_rank
from tests.support.marketdata import MINUTE, SECOND, Harness, at, bogota, new_york


def b(hms: str) -> int:
    return bogota(f"2026-03-02 {hms}")


def test_a_hand_made_hour():
    h = Harness()
    k = 0
    for minute in range(60):
        if minute in (20, 21, 22):
            continue
        t = b("08:00:10") + minute * MINUTE
        k += 1
        h.tick(t, 4000.0, produced_us=t + k * 1000)  # latencies 1 ms, 2 ms, ... in arrival order
        if minute == 30:
            late = h.tick(b("08:28:00"), 4000.0, produced_us=b("08:30:11"))  # bar 08:28 closed at 08:29:02
            assert [e.schema for e in late] == ["LateTick"]
        if minute == 40:
            h.tick(b("08:40:05"), 4000.0, produced_us=b("08:40:05") + 58_000)  # out of order, on time
    h.heartbeat(b("09:00:01.999999"))
    assert h.records("DataQuality") == []
    h.heartbeat(b("09:00:02"))
    assert h.records("DataQuality") == [{
        "event_id": f"dq:setfx:USD/COP:{at('2026-03-02 13:00:00')}",
        "event_time": at("2026-03-02 14:00:00"),
        "venue": "setfx",
        "symbol": "USD/COP",
        "hour_start": at("2026-03-02 13:00:00"),
        "interval_s": 60,
        "expected_bars": 60,
        "present_bars": 57,
        "coverage_pct": 95.0,
        "tick_count": 58,
        "late_ticks": 1,
        "max_inter_tick_gap_s": 240.0,  # 08:19:10 -> 08:23:10
        "latency_p50_ms": 29.0,  # nearest rank of 58 samples (1..58 ms): the 29th, 56th and 58th
        "latency_p95_ms": 56.0,
        "latency_p99_ms": 58.0,
    }]
    assert [(g["start"], g["missing_bars"]) for g in h.gaps()] == [(b("08:20:00"), 3)]


def test_hours_without_samples_or_ticks_report_nulls_and_zero_coverage():
    h = Harness()
    h.tick(b("08:59:00"), 4000.0)
    t = b("09:00:00")
    while t <= b("10:00:00"):  # a silent hour, heartbeats only
        h.heartbeat(t)
        t += 30 * SECOND
    h.heartbeat(b("10:00:02"))
    first, silent = h.records("DataQuality")
    assert (first["tick_count"], first["max_inter_tick_gap_s"], first["latency_p50_ms"]) == (1, None, None)
    assert (first["expected_bars"], first["present_bars"]) == (60, 1)
    assert silent["hour_start"] == b("09:00:00")
    assert (silent["expected_bars"], silent["present_bars"], silent["coverage_pct"]) == (60, 0, 0.0)
    assert (silent["tick_count"], silent["late_ticks"], silent["latency_p99_ms"]) == (0, 0, None)


def test_hours_outside_every_session_without_ticks_are_not_reported():
    h = Harness()
    h.tick(b("12:54:30"), 4000.0)
    h.heartbeat(bogota("2026-03-03 08:00:05"))  # overnight in one step
    assert [q["hour_start"] for q in h.records("DataQuality")] == [b("12:00:00")]
    h.heartbeat(bogota("2026-03-03 09:00:02"))
    assert [q["hour_start"] for q in h.records("DataQuality")] == [b("12:00:00"), bogota("2026-03-03 08:00:00")]


def test_expected_bars_follow_session_boundaries():
    equities = CalendarBook(MarketDataConfig()).of_kind("us_equities")
    minute = 60 * SECOND
    # 09:00-10:00 New York: 30 pre-market and 30 regular one-minute bars; 16:00-17:00 post only
    assert expected_bars(equities, minute, new_york("2026-03-09 09:00:00"), new_york("2026-03-09 10:00:00")) == 60
    assert expected_bars(equities, 5 * minute, new_york("2026-03-09 03:00:00"),
                         new_york("2026-03-09 04:00:00")) == 0
    assert expected_bars(equities, minute, new_york("2026-11-27 13:00:00"), new_york("2026-11-27 14:00:00")) == 60
    fx = CalendarBook(MarketDataConfig()).of_kind("colombian_fx")
    assert expected_bars(fx, minute, b("12:00:00"), b("13:00:00")) == 55
    assert expected_bars(fx, 5 * minute, b("12:00:00"), b("13:00:00")) == 11
    assert expected_bars(AlwaysOpenCalendar(), minute, 0, 3600 * SECOND) == 60


class _OddSession(SessionCalendar):
    """One session 09:31:30-09:45:00 UTC: its first bar is clipped."""

    kind = "crypto"
    SESSION = Session("regular", at("2026-03-02 09:31:30"), at("2026-03-02 09:45:00"))

    def span_at(self, t_us: int) -> Span:
        raise NotImplementedError

    def sessions_between(self, lo: int, hi: int) -> list[Session]:
        return [self.SESSION]


def test_expected_bars_count_a_clipped_first_interval():
    minute = 60 * SECOND
    assert expected_bars(_OddSession(), minute, at("2026-03-02 09:00:00"), at("2026-03-02 10:00:00")) == 1 + 13
    assert expected_bars(_OddSession(), 5 * minute, at("2026-03-02 09:00:00"), at("2026-03-02 10:00:00")) == 1 + 2


def test_nearest_rank_percentiles_over_value_counts():
    assert [nearest_rank([(v, 1) for v in range(1, 101)], p) for p in (50, 95, 99)] == [50, 95, 99]
    assert [nearest_rank([(10, 1), (20, 1), (30, 1), (40, 1)], p) for p in (50, 95, 99)] == [20, 40, 40]
    assert [nearest_rank([(10, 2), (20, 1), (40, 1)], p) for p in (50, 95, 99)] == [10, 40, 40]
    assert [nearest_rank([(7, 3)], p) for p in (50, 95, 99)] == [7, 7, 7]


def test_latency_resolution_rounds_samples_and_one_microsecond_keeps_them_exact():
    for resolution_us, expected in ((1000, (46.0, 90.0, 90.0)), (1, (45.864, 89.5, 89.5))):
        h = Harness(config=MarketDataConfig(latency_resolution_us=resolution_us))
        for i, latency_us in enumerate((12_300, 45_864, 89_500)):
            t = b("08:00:10") + i * SECOND
            h.tick(t, 4000.0, produced_us=t + latency_us)
        h.heartbeat(b("09:00:02"))
        (quality,) = h.records("DataQuality")
        assert (quality["latency_p50_ms"], quality["latency_p95_ms"], quality["latency_p99_ms"]) == expected


def test_hour_stats_snapshot_round_trips_and_reads_the_older_pair_form():
    stats = HourStats(at("2026-03-02 14:00:00"))
    t = stats.start
    for i, latency_us in enumerate((5_200, 1_000, 5_300, 90_000, 1_400)):  # buckets 5, 1, 5, 90, 1 ms
        stats.observe(t + i * SECOND, t + i * SECOND + latency_us)
    snap = stats.snapshot()
    assert snap[5] == {"buckets": [5, 1, 90], "counts": [2, 2, 1]}  # first-seen order, deterministic
    again = HourStats.restore(orjson.loads(orjson.dumps(snap)), 1000)
    assert again.snapshot() == snap
    assert again.latency_percentiles_ms() == stats.latency_percentiles_ms() == (5.0, 90.0, 90.0)
    older = [*snap[:5], [[1, 2], [5, 2], [90, 1]], snap[6]]  # how snapshots were written before
    assert HourStats.restore(older, 1000).latency_percentiles_ms() == (5.0, 90.0, 90.0)
    assert HourStats.restore(older, 1000).latencies == stats.latencies
