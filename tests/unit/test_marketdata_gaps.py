"""Gaps: empty session intervals, found on event time, also while the feed is silent (heartbeats)."""

from __future__ import annotations

import random

from processors.marketdata import MarketDataConfig
from tests.support.marketdata import MINUTE, SECOND, Harness, bogota, span_of


def b(hms: str) -> int:
    return bogota(f"2026-03-02 {hms}")


def gap_summary(h: Harness, interval_s: int = 60) -> list[tuple[int, int, int, int]]:
    return [(g["start"], g["end"], g["missing_bars"], g["event_time"]) for g in h.gaps(interval_s)]


def test_consecutive_empty_intervals_are_one_gap_reported_when_data_resumes():
    h = Harness()
    h.tick(b("08:00:10"), 4000.0)
    h.tick(b("08:04:10"), 4001.0)  # 08:01, 08:02, 08:03 have no tick
    assert h.gaps() == []  # not yet known to have ended
    h.heartbeat(b("08:05:02"))  # finalizes 08:04, which has a bar: the run ends
    assert gap_summary(h) == [(b("08:01:00"), b("08:04:00"), 3, b("08:05:02"))]
    (gap,) = h.gaps()
    assert gap["event_id"] == f"gap:setfx:USD/COP:60:{b('08:01:00')}"
    assert gap["session"] == "regular"


def test_a_quiet_feed_with_heartbeats_reports_its_gap_while_still_silent():
    h = Harness()
    t = b("08:00:00")
    while t < b("08:10:00"):
        h.tick(t, 4000.0)
        t += 10 * SECOND
    while t <= b("08:20:00"):
        h.heartbeat(t)
        t += 5 * SECOND
    # the run is reported every gap_report_max_s (300 s): 08:10-08:15 once the watermark passed 08:15:02
    assert gap_summary(h) == [(b("08:10:00"), b("08:15:00"), 5, b("08:15:05"))]
    assert gap_summary(h, 300) == [(b("08:10:00"), b("08:15:00"), 1, b("08:15:05"))]
    h.tick(b("08:22:30"), 4001.0)
    h.heartbeat(b("08:23:02"))
    assert gap_summary(h) == [
        (b("08:10:00"), b("08:15:00"), 5, b("08:15:05")),
        (b("08:15:00"), b("08:20:00"), 5, b("08:22:30")),
        (b("08:20:00"), b("08:22:00"), 2, b("08:23:02")),
    ]
    assert len(h.bars()) == 11  # 08:00-08:09 and 08:22


def test_one_gap_per_run_when_the_report_limit_is_long():
    h = Harness(config=MarketDataConfig(gap_report_max_s=3600))
    h.tick(b("08:00:10"), 4000.0)
    h.tick(b("08:12:10"), 4000.0)
    h.heartbeat(b("08:13:02"))
    assert gap_summary(h) == [(b("08:01:00"), b("08:12:00"), 11, b("08:13:02"))]
    assert gap_summary(h, 300) == []  # 08:10-08:15 (with a tick) is not finalized yet: the run may go on
    h.heartbeat(b("08:15:02"))
    assert gap_summary(h, 300) == [(b("08:05:00"), b("08:10:00"), 1, b("08:15:02"))]


def test_a_gap_ends_at_the_session_close_and_nothing_is_missing_overnight_or_on_a_holiday():
    h = Harness()
    h.tick(b("12:49:30"), 4000.0)
    t = b("12:50:00")
    while t <= bogota("2026-03-03 07:59:00"):  # heartbeats all night
        h.heartbeat(t)
        t += MINUTE
    assert gap_summary(h) == [(b("12:50:00"), b("12:55:00"), 5, b("12:56:00"))]
    assert gap_summary(h, 300) == [(b("12:50:00"), b("12:55:00"), 1, b("12:56:00"))]

    holiday = Harness()
    holiday.tick(bogota("2026-11-13 12:54:00"), 4000.0)  # Friday before the Monday holiday
    t = bogota("2026-11-13 12:55:00")
    while t <= bogota("2026-11-17 08:00:00"):
        holiday.heartbeat(t)
        t += 10 * MINUTE
    assert holiday.gaps() == [] and holiday.gaps(300) == []
    assert [span_of(x) for x in holiday.bars()] == [(bogota("2026-11-13 12:54:00"), bogota("2026-11-13 12:55:00"))]


def test_no_gap_before_the_first_event_of_a_key():
    h = Harness()
    h.heartbeat(b("10:30:20"))  # the key's clock starts here
    h.tick(b("10:31:30"), 4000.0)
    h.heartbeat(b("10:32:02"))
    assert gap_summary(h) == [(b("10:30:00"), b("10:31:00"), 1, b("10:32:02"))]


def test_bars_and_gaps_tile_every_session_interval_from_the_first_event_on():
    rng = random.Random(11)
    h = Harness()
    t = b("08:03:00")
    end = b("12:55:00")
    while t < end:
        if rng.random() < 0.02:  # a silence of up to 9 minutes, heartbeats only
            silence_end = t + rng.randrange(MINUTE, 9 * MINUTE)
            while t < silence_end:
                h.heartbeat(t)
                t += 5 * SECOND
        else:
            h.tick(t, 4000.0 + rng.uniform(-5, 5))
            t += rng.randrange(SECOND, 20 * SECOND)
    h.heartbeat(b("13:00:00"))
    for interval_s in (60, 300):
        covered = sorted([span_of(x) for x in h.bars(interval_s)]
                         + [span_of(g) for g in h.gaps(interval_s)])
        first = b("08:03:00") if interval_s == 60 else b("08:00:00")
        assert covered[0][0] == first and covered[-1][1] == end
        assert all(prev[1] == nxt[0] for prev, nxt in zip(covered, covered[1:], strict=False))
        missing = sum(g["missing_bars"] for g in h.gaps(interval_s))
        assert missing + len(h.bars(interval_s)) == (end - first) // (interval_s * SECOND)
    assert h.gaps()  # the random silences did make gaps
