"""Backfill: buffered replacement ticks rebuild closed bars as new revisions of the same bar keys."""

from __future__ import annotations

import json

from processors.marketdata import MarketDataProcessor
from tests.support.marketdata import Harness, backfill_complete, bogota, check_encodes, ohlc, span_of


def b(hms: str) -> int:
    return bogota(f"2026-03-02 {hms}")


def live_day() -> Harness:
    h = Harness()
    h.tick(b("08:00:30"), 4000.0, volume=1.0)
    h.tick(b("08:01:30"), 4001.0, volume=1.0)
    for minute in range(6, 10):  # silence 08:02-08:05
        h.tick(b(f"08:0{minute}:30"), 4000.0 + minute, volume=1.0)
    h.heartbeat(b("08:12:00"))  # closes up to 08:11:58: 08:10 is empty, 08:11 still open
    return h


def replacement_ticks(h: Harness, backfill_id: str, rows: list[tuple[str, float, float]]) -> None:
    for seq, (hms, price, volume) in enumerate(rows, start=1000):
        out = h.tick(b(hms), price, volume=volume, backfill_id=backfill_id, seq=seq)
        assert out == []


def test_backfill_rebuilds_closed_intervals_as_revision_one():
    h = live_day()
    assert [span_of(x)[0] for x in h.bars()] == [b(f"08:0{m}:00") for m in (0, 1, 6, 7, 8, 9)]
    assert [(g["start"], g["missing_bars"]) for g in h.gaps()] == [(b("08:02:00"), 4)]
    watermark = h.processor.watermark
    replacement_ticks(h, "bf-1", [
        ("08:00:15", 3990.0, 1.0),
        ("08:02:45", 3993.0, 2.0),
        ("08:02:15", 3992.0, 2.0),  # out of order inside the backfill: open/close still by event time
        ("08:04:15", 3994.0, 1.0),
        ("08:09:59", 3999.0, 1.0),
        ("08:11:30", 3911.0, 1.0),  # 08:11 is not closed yet: skipped
        ("07:59:00", 3800.0, 1.0),  # off session and outside the range: skipped
    ])
    assert h.processor.watermark == watermark  # replacement ticks never move the watermark
    assert h.records("LateTick") == []
    live_bars = len(h.bars()) + len(h.bars(300))
    out = h.feed("BackfillComplete", backfill_complete("bf-1", b("08:00:00"), b("08:12:00"), 7))
    assert {e.topic for e in out} == {"md.bars.v1"}  # revisions feed no indicators, alerts or quality
    revised = [e.record for e in out]
    assert [(x["interval_s"], x["start"], x["revision"]) for x in revised] == [
        (60, b("08:00:00"), 1), (60, b("08:02:00"), 1), (60, b("08:04:00"), 1), (60, b("08:09:00"), 1),
        (300, b("08:00:00"), 1), (300, b("08:05:00"), 1),
    ]
    first = revised[0]
    assert first["event_id"] == f"bar:setfx:USD/COP:60:{b('08:00:00')}:r1"
    assert ohlc(first) == (3990.0, 3990.0, 3990.0, 3990.0)
    assert ohlc(revised[1]) == (3992.0, 3993.0, 3992.0, 3993.0)
    assert (revised[1]["volume"], revised[1]["vwap"], revised[1]["tick_count"]) == (4.0, 3992.5, 2)
    assert revised[1]["first_tick_id"] == "bf:bf-1:1002"
    five = revised[4]
    assert ohlc(five) == (3990.0, 3994.0, 3990.0, 3994.0)
    assert (five["volume"], five["tick_count"]) == (6.0, 4)
    assert five["vwap"] == (3990.0 + 2 * 3993.0 + 2 * 3992.0 + 3994.0) / 6.0
    assert h.processor.counters["backfill_ticks"] == 7
    assert h.processor.counters["backfill_ticks_skipped"] == 2
    assert h.processor.backfills.pending == {}
    assert len(h.bars()) + len(h.bars(300)) == live_bars + 6


def test_a_second_backfill_of_a_bar_gives_the_next_revision_even_after_a_restore():
    h = live_day()
    replacement_ticks(h, "bf-1", [("08:02:15", 3992.0, 2.0)])
    h.feed("BackfillComplete", backfill_complete("bf-1", b("08:00:00"), b("08:12:00"), 1))
    replacement_ticks(h, "bf-2", [("08:02:20", 3995.0, 1.0)])  # buffered before the snapshot
    state = json.loads(json.dumps(h.processor.snapshot()))
    restored = MarketDataProcessor.restore(h.key, state)
    out = restored.on_event("BackfillComplete", backfill_complete("bf-2", b("08:02:00"), b("08:03:00"), 1))
    check_encodes(out)
    assert [(e.record["interval_s"], e.record["start"], e.record["revision"], e.record["close"]) for e in out] == [
        (60, b("08:02:00"), 2, 3995.0),
    ]
    assert out[0].record["event_id"].endswith(":r2")


def test_a_backfill_with_no_ticks_or_no_live_data_emits_nothing():
    h = live_day()
    assert h.feed("BackfillComplete", backfill_complete("unknown", b("08:00:00"), b("08:12:00"), 0)) == []
    fresh = Harness()  # no live event yet: nothing is closed, so nothing can be revised
    fresh.tick(b("08:00:10"), 4000.0, backfill_id="bf-x", seq=1)
    assert fresh.feed("BackfillComplete", backfill_complete("bf-x", b("08:00:00"), b("08:01:00"), 1)) == []
    assert fresh.processor.counters["backfill_ticks_skipped"] == 1


def test_backfill_of_a_partly_covered_interval_skips_it():
    h = live_day()
    replacement_ticks(h, "bf-1", [("08:06:10", 3990.0, 1.0), ("08:07:10", 3991.0, 1.0)])
    out = h.feed("BackfillComplete", backfill_complete("bf-1", b("08:06:30"), b("08:08:00"), 2))
    assert [(e.record["interval_s"], e.record["start"]) for e in out] == [(60, b("08:07:00"))]
    assert h.processor.counters["backfill_ticks_skipped"] == 1
