"""The scanner processor on hand-built snapshots, with exact expected values: scores and categories,
baselines per session, deltas (enter, leave, move, ties), session boundaries (a holiday, an early close),
alert throttling, filters at their thresholds, bad rows and snapshots, persistence points, day end."""

from __future__ import annotations

import math

import pytest

from processors.admission import Refused
from processors.core import TOMBSTONE
from processors.scanner import CategoryRule, ScannerConfig
from tests.support.scanner import HOUR, MINUTE, SECOND, Harness, board_from_results, new_york, of, row

DAY = "2026-11-20"  # a Friday
T_OPEN = new_york(f"{DAY} 09:30:00")
GAINERS_ONLY = {"top_gainers": CategoryRule(weights={"change_pct": 1.0}, above={"change_pct": 0.0})}


def results(emits, ticker: str) -> list[dict]:
    return [e.record for e in emits if e.schema == "ScanResult" and e.record["ticker"] == ticker]


def board(emits) -> dict[str, list[str]]:
    summary = of(emits, "ScanBoard")[-1]
    return {c["category"]: [line["ticker"] for line in c["top"]] for c in summary["categories"]}


def test_scores_and_categories_of_a_hand_built_snapshot() -> None:
    h = Harness()
    out = h.feed(T_OPEN, [
        row("AAA", 11.0, volume=50_000, avg_volume=10_000),
        row("BBB", 9.0, volume=20_000, avg_volume=20_000),
        row("CCC", 10.5, volume=30_000, avg_volume=3_000),
        row("DDD", 0.9, volume=900_000),  # below $1
        row("EEE", 12.0, volume=9_999),  # below 10,000 shares
    ])
    assert board(out) == {
        "top_gainers": ["AAA", "CCC"],
        "top_losers": ["BBB"],
        "gappers_up": ["AAA", "CCC"],  # first regular price = the open: gap = change
        "gappers_down": ["BBB"],
        "unusual_volume": ["CCC", "AAA"],  # relative volume 10 and 5
        "most_active": ["AAA", "CCC", "BBB"],
        "momentum": [],  # first sighting: no momentum yet
        "new_lows": [],
    }
    (aaa,) = results(out, "AAA")
    assert aaa["price"] == 11.0 and aaa["change_pct"] == 10.0 and aaa["gap_pct"] == 10.0
    assert aaa["change_open_pct"] == 0.0 and aaa["relative_volume"] == 5.0 and aaa["volume"] == 50_000
    assert aaa["categories"] == [
        {"category": "top_gainers", "rank": 1, "score": 10.0},
        {"category": "gappers_up", "rank": 1, "score": 10.0},
        {"category": "unusual_volume", "rank": 2, "score": 5.0},
        {"category": "most_active", "rank": 1, "score": round(math.log10(50_001), 6)},
    ]
    summary = of(out, "ScanBoard")[-1]
    assert (summary["session"], summary["trading_day"], summary["rows"], summary["rows_passed"]) == (
        "REGULAR", DAY, 5, 3)
    assert results(out, "DDD") == [] and results(out, "EEE") == []


def test_weighted_scores_are_configurable() -> None:
    rule = CategoryRule(weights={"change_pct": 1.0, "relative_volume": 2.0}, above={"change_pct": 0.0})
    h = Harness(ScannerConfig(categories={"hot": rule}))
    out = h.feed(T_OPEN, [row("AAA", 11.0, volume=50_000, avg_volume=10_000),  # 10 + 2 x 5 = 20
                          row("CCC", 10.5, volume=30_000, avg_volume=3_000)])  # 5 + 2 x 10 = 25
    assert [(r["ticker"], r["categories"]) for r in of(out, "ScanResult")] == [
        ("AAA", [{"category": "hot", "rank": 2, "score": 20.0}]),
        ("CCC", [{"category": "hot", "rank": 1, "score": 25.0}]),
    ]


def test_baselines_per_session() -> None:
    h = Harness()
    v = iter(range(100_000, 10_000_000, 100_000))

    def line(at: str, price: float) -> dict:
        h.feed(new_york(f"{DAY} {at}"), [row("XYZ", price, volume=next(v))])
        return results(h.out, "XYZ")[-1]

    pre = line("08:00:00", 11.0)  # pre-market: from the previous close; the gap so far is the change
    assert (pre["session"], pre["change_pct"], pre["gap_pct"], pre["change_open_pct"]) == ("PRE_MARKET", 10.0, 10.0,
                                                                                         None)
    pre = line("09:29:50", 12.0)
    assert (pre["change_pct"], pre["gap_pct"]) == (20.0, 20.0)
    regular = line("09:30:00", 10.5)  # regular: from the previous close and from the open; gap fixed at the open
    assert (regular["session"], regular["change_pct"], regular["change_open_pct"], regular["gap_pct"]) == (
        "REGULAR", 5.0, 0.0, 5.0)
    regular = line("12:00:00", 12.6)
    assert (regular["change_pct"], regular["change_open_pct"], regular["gap_pct"]) == (26.0, 20.0, 5.0)
    line("15:59:50", 13.0)  # the regular close
    post = line("16:00:00", 14.3)  # post-market: from the close
    assert (post["session"], post["change_pct"], post["gap_pct"], post["change_open_pct"]) == (
        "POST_MARKET", 10.0, 5.0, round((14.3 / 10.5 - 1) * 100, 6))
    assert (post["day_high"], post["day_low"]) == (14.3, 10.5)


def test_post_market_without_a_regular_print_is_measured_from_the_previous_close() -> None:
    h = Harness()
    h.feed(new_york(f"{DAY} 08:00:00"), [row("XYZ", 10.8)])
    out = h.feed(new_york(f"{DAY} 17:00:00"), [row("XYZ", 11.0, volume=200_000)])
    (post,) = results(out, "XYZ")
    assert (post["change_pct"], post["gap_pct"]) == (10.0, 8.0)  # gap from the last pre-market print


def test_deltas_enter_leave_move_with_ties_broken_by_ticker() -> None:
    h = Harness(ScannerConfig(categories=GAINERS_ONLY, board_size=2, summary_top=2, persist_top_n=2))
    t = T_OPEN
    out = h.feed(t, [row("BBB", 10.5), row("AAA", 10.5), row("CCC", 10.3)])  # A and B tie at +5 %
    (d1,) = of(out, "ScanDelta")
    assert (d1["sequence"], d1["size"], d1["changes"]) == (1, 2, [
        {"ticker": "AAA", "change": "ENTERED", "from_rank": None, "to_rank": 1, "score": 5.0},
        {"ticker": "BBB", "change": "ENTERED", "from_rank": None, "to_rank": 2, "score": 5.0},
    ])
    out = h.feed(t + 10 * SECOND, [row("AAA", 10.5, volume=200_000), row("BBB", 10.4, volume=200_000),
                                   row("CCC", 10.6, volume=200_000)])
    (d2,) = of(out, "ScanDelta")
    assert (d2["event_id"], d2["sequence"], d2["changes"]) == ("s1:REGULAR:top_gainers:2", 2, [
        {"ticker": "CCC", "change": "ENTERED", "from_rank": None, "to_rank": 1, "score": 6.0},
        {"ticker": "AAA", "change": "MOVED", "from_rank": 1, "to_rank": 2, "score": 5.0},
        {"ticker": "BBB", "change": "LEFT", "from_rank": 2, "to_rank": None, "score": None},
    ])
    assert [(e.key, e.schema) for e in out if e.schema == TOMBSTONE] == [("s1:REGULAR:BBB", TOMBSTONE)]
    out = h.feed(t + 20 * SECOND, [row("AAA", 10.5, volume=300_000), row("CCC", 10.6, volume=300_000)])
    assert of(out, "ScanDelta") == []  # same board: no delta
    assert of(out, "ScanBoard")[0]["categories"][0]["sequence"] == 2
    assert board_from_results(h.out) == {"REGULAR": {"top_gainers": ["CCC", "AAA"]}}


@pytest.mark.parametrize(("local", "session"), [
    (f"{DAY} 03:59:59.999999", None),
    (f"{DAY} 04:00:00", "PRE_MARKET"),
    (f"{DAY} 09:29:59.999999", "PRE_MARKET"),
    (f"{DAY} 09:30:00", "REGULAR"),
    (f"{DAY} 15:59:59.999999", "REGULAR"),
    (f"{DAY} 16:00:00", "POST_MARKET"),
    (f"{DAY} 19:59:59.999999", "POST_MARKET"),
    (f"{DAY} 20:00:00", None),
    ("2026-11-21 10:00:00", None),  # a Saturday
    ("2026-11-26 10:00:00", None),  # Thanksgiving: a holiday
    ("2026-11-27 12:59:59", "REGULAR"),  # the day after: an early close at 13:00
    ("2026-11-27 13:00:00", "POST_MARKET"),
    ("2026-11-27 16:59:59", "POST_MARKET"),
    ("2026-11-27 17:00:00", None),
])
def test_session_from_the_us_equity_calendar(local: str, session: str | None) -> None:
    h = Harness()
    t = new_york(local)
    if session is None:
        with pytest.raises(Refused) as refused:
            h.feed(t, [row("AAA", 11.0)])
        assert refused.value.reason == "outside-session"
        assert h.proc.snapshot() == Harness().proc.snapshot()  # nothing changed
    else:
        assert of(h.feed(t, [row("AAA", 11.0)]), "ScanBoard")[0]["session"] == session


def test_a_snapshot_behind_the_last_one_is_refused_whole_and_changes_nothing() -> None:
    h = Harness()
    h.feed(T_OPEN + MINUTE, [row("AAA", 11.0)])
    before = h.proc.snapshot()
    with pytest.raises(Refused) as refused:
        h.feed(T_OPEN, [row("AAA", 12.0)])
    assert refused.value.reason == "event-time-behind"
    assert h.proc.snapshot() == before
    h.feed(T_OPEN + MINUTE, [row("AAA", 11.5, volume=200_000)])  # the same instant again is fine
    assert results(h.out, "AAA")[-1]["price"] == 11.5


def test_bad_rows_are_refused_alone() -> None:
    h = Harness()
    out = h.feed(T_OPEN, [
        row("AAA", 11.0),
        row("AAA", 50.0),  # listed twice: the first row counts
        row("NAN", math.nan),
        row("ZER", 0.0),
        row("NEG", 11.0, volume=-1),
        row("INF", 11.0, relative_volume=math.inf),
        row("BBB", 10.5),
    ])
    assert [(r["row_index"], r["ticker"], r["reason"]) for r in of(out, "ScanRowRejected")] == [
        (1, "AAA", "duplicate-ticker"), (2, "NAN", "bad-price"), (3, "ZER", "bad-price"),
        (4, "NEG", "negative-volume"), (5, "INF", "bad-number")]
    assert board(out)["top_gainers"] == ["AAA", "BBB"]
    assert results(out, "AAA")[0]["price"] == 11.0
    assert of(out, "ScanBoard")[0]["rows_refused"] == 5
    assert h.proc.tickers == ["AAA", "BBB"]


def test_the_universe_is_bounded() -> None:
    h = Harness(ScannerConfig(max_tickers=2))
    out = h.feed(T_OPEN, [row("AAA", 11.0), row("BBB", 11.0), row("CCC", 11.0)])
    assert [(r["ticker"], r["reason"]) for r in of(out, "ScanRowRejected")] == [("CCC", "universe-full")]
    out = h.feed(T_OPEN + 10 * SECOND, [row("CCC", 11.0), row("AAA", 12.0, volume=200_000)])
    assert [(r["row_index"], r["ticker"]) for r in of(out, "ScanRowRejected")] == [(0, "CCC")]
    assert len(h.proc.tickers) == 2


@pytest.mark.parametrize(("fields", "passes"), [
    ({"price": 1.0}, True), ({"price": 0.9999}, False),
    ({"volume": 10_000}, True), ({"volume": 9_999}, False),
])
def test_filters_at_their_thresholds(fields: dict, passes: bool) -> None:
    h = Harness()
    out = h.feed(T_OPEN, [row("AAA", **{"price": 5.0, **fields})])
    assert board(out)["most_active"] == (["AAA"] if passes else [])


def test_price_band_and_relative_volume_filters_are_inclusive() -> None:
    h = Harness(ScannerConfig(min_price=5.0, max_price=20.0, min_relative_volume=2.0))
    out = h.feed(T_OPEN, [
        row("LOW", 4.99, volume=300_000), row("MIN", 5.0, volume=300_000), row("MAX", 20.0, volume=200_000),
        row("HIGH", 20.01, volume=300_000), row("RV", 10.0, volume=199_000),  # relative volume 1.99
        row("FEED", 10.0, volume=100_000, relative_volume=2.0),  # the feed's relative volume wins
    ])
    assert sorted(board(out)["most_active"]) == ["FEED", "MAX", "MIN"]


def test_staleness_a_print_in_the_last_minute() -> None:
    h = Harness()
    h.feed(T_OPEN, [row("AAA", 11.0, volume=100_000), row("BBB", 11.0, volume=100_000)])
    out = h.feed(T_OPEN + 60 * SECOND, [row("AAA", 11.0, volume=100_000), row("BBB", 11.0, volume=100_000)])
    assert board(out)["most_active"] == ["AAA", "BBB"]  # exactly a minute old: still fresh
    out = h.feed(T_OPEN + 60 * SECOND + 1, [row("AAA", 11.0, volume=100_000), row("BBB", 11.0, volume=100_001)])
    assert board(out)["most_active"] == ["BBB"]


def test_new_high_alerts_are_throttled_per_ticker_and_kind() -> None:
    h = Harness()
    for i in range(61):  # every 10 s for 10 minutes, a new high each time after the first
        h.feed(T_OPEN + i * 10 * SECOND, [row("AAA", round(10.0 + 0.01 * i, 2), volume=100_000 + i)])
    alerts = [(a["kind"], (a["event_time"] - T_OPEN) // SECOND, a["suppressed_count"]) for a in of(h.out, "ScanAlert")]
    assert alerts == [("new_high", 10, 0), ("new_high", 310, 29)]
    first = of(h.out, "ScanAlert")[0]
    assert (first["alert_key"], first["price"], first["caused_by"]) == (
        "s1:AAA:new_high", 10.01, f"s1:{T_OPEN + 10 * SECOND}")


def test_gap_and_relative_volume_spike_alert_on_the_crossing() -> None:
    h = Harness()
    h.feed(new_york(f"{DAY} 08:00:00"), [row("AAA", 10.4, volume=10_000, avg_volume=10_000)])
    h.feed(new_york(f"{DAY} 08:00:10"), [row("AAA", 10.5, volume=60_000, avg_volume=10_000)])  # 5 %, rvol 6
    h.feed(new_york(f"{DAY} 08:00:20"), [row("AAA", 10.6, volume=70_000, avg_volume=10_000)])  # still beyond
    alerts = [(a["kind"], a["value"], a["threshold"]) for a in of(h.out, "ScanAlert") if a["kind"] != "new_high"]
    assert alerts == [("gap", 5.0, 5.0), ("rvol_spike", 6.0, 5.0)]


def test_halt_and_resume() -> None:
    h = Harness()
    for s in range(0, 301, 10):  # listed, no print
        h.feed(T_OPEN + s * SECOND, [row("AAA", 11.0, prev_close=11.0, volume=100_000)])
    h.feed(T_OPEN + 310 * SECOND, [row("AAA", 11.0, prev_close=11.0, volume=100_500)])
    alerts = [(a["kind"], (a["event_time"] - T_OPEN) // SECOND, a["value"]) for a in of(h.out, "ScanAlert")]
    assert alerts == [("halt", 300, 300.0), ("resume", 310, 11.0)]


def test_top_n_to_persist_at_each_interval_and_at_the_close() -> None:
    cfg = ScannerConfig(categories=GAINERS_ONLY, board_size=3, summary_top=3, persist_top_n=2)
    h = Harness(cfg)
    rows = [row("AAA", 11.0), row("BBB", 10.5), row("CCC", 10.2)]
    h.feed(T_OPEN, rows)
    h.feed(new_york(f"{DAY} 09:59:50"), [dict(r, volume=150_000) for r in rows])  # a print: fresh
    out = h.feed(new_york(f"{DAY} 10:00:00"), [row("CCC", 12.0, volume=200_000)])
    tops = of(out, "ScanTopEntry")  # the board as of 10:00, before the 10:00:00 snapshot
    assert [(r["rank"], r["ticker"], r["trigger"], r["event_time"]) for r in tops] == [
        (1, "AAA", "interval", new_york(f"{DAY} 10:00:00")), (2, "BBB", "interval", new_york(f"{DAY} 10:00:00"))]
    assert tops[0]["event_id"] == f"s1:{DAY}:REGULAR:top_gainers:{new_york(f'{DAY} 10:00:00')}:1"
    out = h.feed(new_york(f"{DAY} 15:59:50"), [row("CCC", 12.0, volume=300_000)])  # the session's last snapshot
    tops = of(out, "ScanTopEntry")
    assert [((r["event_time"] - T_OPEN) / HOUR, r["ticker"], r["trigger"]) for r in tops] == [
        (1.5, "CCC", "interval"), (2.5, "CCC", "interval"), (3.5, "CCC", "interval"), (4.5, "CCC", "interval"),
        (5.5, "CCC", "interval"), (6.5, "CCC", "close")]
    out = h.feed(new_york(f"{DAY} 16:00:00"), [row("CCC", 12.0, volume=400_000)])
    assert of(out, "ScanTopEntry") == []  # the close was persisted already


def test_the_day_ends_when_a_snapshot_of_another_day_arrives() -> None:
    h = Harness(ScannerConfig(categories=GAINERS_ONLY))
    h.feed(new_york(f"{DAY} 17:00:00"), [row("AAA", 11.0), row("BBB", 10.5)])
    out = h.feed(new_york("2026-11-23 04:00:00"), [row("CCC", 10.1)])
    assert [(e.key, e.schema) for e in out if e.topic == "scanner.results.v1"] == [
        ("s1:POST_MARKET:AAA", TOMBSTONE), ("s1:POST_MARKET:BBB", TOMBSTONE), ("s1:PRE_MARKET:CCC", "ScanResult")]
    left, entered = of(out, "ScanDelta")
    assert (left["trading_day"], left["session"], left["sequence"], [c["change"] for c in left["changes"]]) == (
        DAY, "POST_MARKET", 2, ["LEFT", "LEFT"])
    assert (entered["trading_day"], entered["session"], entered["sequence"]) == ("2026-11-23", "PRE_MARKET", 1)
    assert h.proc.tickers == ["CCC"] and set(h.proc.boards) == {"PRE_MARKET"}
    assert board_from_results(h.out) == {"PRE_MARKET": {"top_gainers": ["CCC"]}}


def test_the_session_boards_stay_on_the_compacted_topic_through_the_day() -> None:
    h = Harness(ScannerConfig(categories=GAINERS_ONLY))
    h.feed(new_york(f"{DAY} 09:29:50"), [row("AAA", 11.0)])
    h.feed(new_york(f"{DAY} 09:30:00"), [row("BBB", 11.0)])
    assert board_from_results(h.out) == {"PRE_MARKET": {"top_gainers": ["AAA"]},
                                         "REGULAR": {"top_gainers": ["BBB"]}}


def test_the_driver_dead_letters_a_refused_snapshot_and_writes_tombstones_without_a_value() -> None:
    from processors.scanner import scanner_pipeline
    from streams.runtime.driver import PipelineDriver, Rejected
    from tests.support.marketdata import SERDE
    from tests.support.scanner import snapshot

    cfg = ScannerConfig(categories=GAINERS_ONLY)
    driver = PipelineDriver(scanner_pipeline(cfg), SERDE)

    def send(offset: int, t: int, rows: list) -> object:
        return driver.process("scanner.snapshots.v1", 0, offset, SERDE.encode("ScanSnapshot", snapshot(t, rows)))

    first = send(0, T_OPEN, [row("AAA", 11.0)])
    assert [(o.topic, o.key) for o in first if o.value is None] == []
    refused = send(1, T_OPEN - SECOND, [row("AAA", 12.0)])
    assert isinstance(refused, Rejected) and refused.error.reason == "event-time-behind"
    assert driver.refused == 1
    later = send(2, T_OPEN + SECOND, [row("BBB", 11.0)])
    assert [(o.topic, o.key, o.timestamp_ms) for o in later if o.value is None] == [
        ("scanner.results.v1", "s1:REGULAR:AAA", (T_OPEN + SECOND) // 1000)]


def test_a_replay_to_parquet_keeps_tombstones_apart(tmp_path) -> None:
    import pyarrow.parquet as pq

    from processors.scanner import scanner_pipeline
    from streams.engines.replay import ParquetOutput
    from streams.runtime.driver import PipelineDriver
    from tests.support.marketdata import SERDE
    from tests.support.scanner import snapshot

    driver = PipelineDriver(scanner_pipeline(ScannerConfig(categories=GAINERS_ONLY)), SERDE)
    sink = ParquetOutput(tmp_path, SERDE)
    for i, (t, rows) in enumerate([(T_OPEN, [row("AAA", 11.0)]), (T_OPEN + SECOND, [row("BBB", 11.0)])]):
        sink.write(driver.process("scanner.snapshots.v1", 0, i, SERDE.encode("ScanSnapshot", snapshot(t, rows))))
    counts = sink.close()
    assert counts["scanner.results.v1.tombstone"] == 1 and counts["scanner.results.v1.ScanResult"] == 2
    assert pq.read_table(tmp_path / "scanner.results.v1.tombstone.parquet").to_pylist() == [
        {"event_time": T_OPEN + SECOND, "_key": "s1:REGULAR:AAA"}]
