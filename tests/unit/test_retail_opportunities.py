"""Arbitrage opportunities: exact margins and ROI at the thresholds, tiers, closing, re-validation on event
time, snapshot/restore and replay identity."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from processors.core import Emit
from processors.retail import OpportunityConfig, RetailConfig, RetailReplay, opportunity_id, run_retail
from streams.codec.serde import AvroSerde
from tests.support.retail import HOUR, MINUTE, T0, generated_day, listing, of

PHONE = "Celular Samsung Galaxy A54 5G 8GB RAM 128GB Negro"
MID = "falabella:1|ripley:2"


def pair(buy: int, sell: int, t: int = T0) -> list[dict[str, Any]]:
    return [listing("falabella", "1", PHONE, buy, t=t), listing("ripley", "2", PHONE, sell, t=t + 1)]


def encode_all(outputs: list[Emit]) -> None:
    serde = AvroSerde()
    for e in outputs:
        serde.encode(e.schema, e.record, e.topic)


# --------------------------------------------------------------------------- thresholds
def test_margin_of_4999_is_not_an_opportunity_and_5000_is() -> None:
    assert of(run_retail(pair(50_000, 54_999)), "ArbitrageOpportunity") == []
    out = run_retail(pair(50_000, 55_000))
    [o] = of(out, "ArbitrageOpportunity")
    assert (o["buy_price"], o["sell_price"], o["margin_clp"], o["roi_pct"]) == (50_000, 55_000, 5_000, 10.0)
    assert (o["buy"]["listing_key"], o["sell"]["listing_key"]) == ("falabella:1", "ripley:2")
    encode_all(out)


def test_roi_of_4_99_percent_is_not_an_opportunity_and_5_percent_is() -> None:
    assert of(run_retail(pair(200_000, 209_980)), "ArbitrageOpportunity") == []  # margin 9,980: 4.99 %
    [o] = of(run_retail(pair(200_000, 210_000)), "ArbitrageOpportunity")
    assert (o["margin_clp"], o["roi_pct"]) == (10_000, 5.0)


def test_the_cheaper_side_is_bought_whichever_listing_it_is() -> None:
    [o] = of(run_retail(pair(260_000, 200_000)), "ArbitrageOpportunity")
    assert (o["buy"]["listing_key"], o["buy_price"], o["sell_price"], o["margin_clp"]) == (
        "ripley:2",
        200_000,
        260_000,
        60_000,
    )


def test_thresholds_come_from_the_config() -> None:
    cfg = RetailConfig(opportunity=OpportunityConfig(min_margin_clp=10_001, min_roi_pct=4.99))
    assert of(run_retail(pair(200_000, 210_000), cfg), "ArbitrageOpportunity") == []
    [o] = of(run_retail(pair(200_000, 210_001), cfg), "ArbitrageOpportunity")
    assert o["margin_clp"] == 10_001


# --------------------------------------------------------------------------- tiers and scores
@pytest.mark.parametrize(
    ("buy", "sell", "tier", "every_s", "score", "risk"),
    [
        (400_000, 520_000, "CRITICAL", 1_800, 100.0, "LOW"),  # 120,000 CLP, 30 %
        (200_000, 230_000, "IMPORTANT", 21_600, 48.0, "LOW"),  # 30,000 CLP, 15 %
        (100_000, 106_000, "TRACKING", 86_400, 16.8, "LOW"),  # 6,000 CLP, 6 %
        (300_000, 399_999, "IMPORTANT", 21_600, 99.9996, "LOW"),  # 99,999 CLP at 33 %: one peso short of critical
    ],
)
def test_tiers(buy: int, sell: int, tier: str, every_s: int, score: float, risk: str) -> None:
    [o] = of(run_retail(pair(buy, sell)), "ArbitrageOpportunity")
    assert (o["tier"], o["revalidate_every_s"], o["opportunity_score"], o["risk_level"]) == (tier, every_s, score, risk)
    assert (o["confidence"], o["match_score"], o["volatility"], o["glitch_suspected"]) == (1.0, 1.0, 0.0, False)
    assert o["next_revalidation"] == T0 + 1 + every_s * 1_000_000


def test_a_glitched_price_is_flagged_on_its_opportunity() -> None:
    recs = [listing("falabella", "1", PHONE, 399_990, offer=49_990), listing("ripley", "2", PHONE, 380_000, t=T0 + 1)]
    [o] = of(run_retail(recs), "ArbitrageOpportunity")
    assert (o["glitch_suspected"], o["glitch_kinds"], o["confidence"]) == (True, ["deep_discount"], 0.5)
    assert (o["margin_clp"], o["tier"], o["risk_level"]) == (330_010, "TRACKING", "HIGH")
    assert o["buy"]["glitch_kinds"] == ["deep_discount"]


# --------------------------------------------------------------------------- lifecycle
def test_the_opportunity_id_comes_from_the_pair_and_the_observations_that_opened_it() -> None:
    [o] = of(run_retail(pair(400_000, 520_000)), "ArbitrageOpportunity")
    expected = opportunity_id(MID, f"norm:falabella:1:{T0}", f"norm:ripley:2:{T0 + 1}")
    assert o["opportunity_id"] == o["event_id"] == expected
    assert o["revision"] == 0
    assert o["cause_event_id"].startswith(f"pm:{MID}:")


def test_a_price_change_that_keeps_the_margin_revises_the_opportunity() -> None:
    recs = [*pair(400_000, 520_000), listing("ripley", "2", PHONE, 540_000, t=T0 + HOUR)]
    first, second = of(run_retail(recs), "ArbitrageOpportunity")
    assert second["opportunity_id"] == first["opportunity_id"]
    assert (second["revision"], second["event_id"]) == (1, f"{first['opportunity_id']}:r1")
    assert (second["margin_clp"], second["sell_price"]) == (140_000, 540_000)
    assert second["volatility"] == 0.018868  # the sell side moved 520,000 → 540,000
    assert second["next_revalidation"] == T0 + HOUR + 1_800_000_000


def test_a_price_change_that_removes_the_margin_closes_the_opportunity() -> None:
    recs = [*pair(400_000, 520_000), listing("falabella", "1", PHONE, 500_000, t=T0 + HOUR)]
    out = run_retail(recs)
    [o] = of(out, "ArbitrageOpportunity")
    [c] = of(out, "ArbitrageOpportunityClosed")
    assert (c["opportunity_id"], c["event_id"]) == (o["opportunity_id"], f"{o['opportunity_id']}:closed")
    assert (c["reason"], c["buy_price"], c["sell_price"], c["margin_clp"], c["roi_pct"]) == (
        "roi_below_min",
        500_000,
        520_000,
        20_000,
        4.0,
    )
    assert (c["opened_at"], c["open_for_s"], c["event_time"]) == (T0 + 1, 3_599, T0 + HOUR)
    encode_all(out)


def test_a_margin_under_5000_closes_with_its_reason() -> None:
    recs = [*pair(50_000, 60_000), listing("falabella", "1", PHONE, 56_000, t=T0 + HOUR)]
    [c] = of(run_retail(recs), "ArbitrageOpportunityClosed")
    assert (c["reason"], c["margin_clp"]) == ("margin_below_min", 4_000)


def test_a_reversed_spread_closes_and_opens_the_other_way() -> None:
    recs = [*pair(400_000, 520_000), listing("ripley", "2", PHONE, 520_000, offer=300_000, t=T0 + HOUR)]
    out = run_retail(recs)
    first, second = of(out, "ArbitrageOpportunity")
    [c] = of(out, "ArbitrageOpportunityClosed")
    assert c["reason"] == "direction_reversed"
    assert (second["buy"]["listing_key"], second["buy_price"], second["sell_price"]) == ("ripley:2", 300_000, 400_000)
    assert second["opportunity_id"] != first["opportunity_id"]
    assert second["revision"] == 0


def test_a_retracted_match_closes_the_opportunity() -> None:
    recs = [
        *pair(400_000, 520_000),
        listing("ripley", "2", "Celular Samsung Galaxy A54 5G 8GB RAM 256GB Negro", 520_000, t=T0 + HOUR),
    ]
    [c] = of(run_retail(recs), "ArbitrageOpportunityClosed")
    assert (c["reason"], c["buy_price"], c["margin_clp"]) == ("match_retracted", None, None)


# --------------------------------------------------------------------------- re-validation on event time
def test_revalidation_follows_the_tier_interval_on_event_time() -> None:
    replay = RetailReplay(partitions=1)
    [o] = of(replay.run(pair(400_000, 520_000)), "ArbitrageOpportunity")
    opened = T0 + 1
    assert replay.advance(opened + 30 * MINUTE - 1) == []  # not yet due
    [v1] = of(replay.advance(opened + 30 * MINUTE), "ArbitrageOpportunityRevalidated")
    assert (v1["event_id"], v1["event_time"], v1["validation"], v1["tier"]) == (
        f"{o['opportunity_id']}:v1",
        opened + 30 * MINUTE,
        1,
        "CRITICAL",
    )
    assert (v1["margin_clp"], v1["oldest_quote_age_s"], v1["next_revalidation"]) == (120_000, 1_800, opened + HOUR)
    later = of(replay.advance(opened + 95 * MINUTE), "ArbitrageOpportunityRevalidated")
    assert [(v["validation"], v["event_time"]) for v in later] == [(2, opened + HOUR), (3, opened + 90 * MINUTE)]


def test_revalidation_fires_on_later_events_of_the_partition_not_the_wall_clock() -> None:
    replay = RetailReplay(partitions=1)
    replay.run(pair(100_000, 106_000))  # TRACKING: every 24 h
    other = [
        listing("paris", "3", "Celular Apple iPhone 15 128GB Negro", 800_000, t=T0 + 25 * HOUR),
        listing("hites", "4", "Celular Apple iPhone 15 128gb Negro", 900_000, t=T0 + 25 * HOUR + 1),
    ]
    out = replay.run(other)
    [v] = of(out, "ArbitrageOpportunityRevalidated")
    assert (v["match_id"], v["event_time"], v["tier"]) == (MID, T0 + 1 + 24 * HOUR, "TRACKING")
    assert [e.schema for e in out].index("ArbitrageOpportunityRevalidated") > [e.schema for e in out].index(
        "ProductMatch"
    )  # it fired when the new match's event moved the partition clock


def test_revalidations_due_before_an_event_run_before_it() -> None:
    replay = RetailReplay(partitions=1)
    replay.run(pair(400_000, 520_000))
    out = replay.run([listing("ripley", "2", PHONE, 540_000, t=T0 + 65 * MINUTE)])
    tracked = [(e.schema, e.record["event_time"]) for e in out if e.topic == "retail.opportunities.v1"]
    assert tracked == [
        ("ArbitrageOpportunityRevalidated", T0 + 1 + 30 * MINUTE),
        ("ArbitrageOpportunityRevalidated", T0 + 1 + 60 * MINUTE),
        ("ArbitrageOpportunity", T0 + 65 * MINUTE),
    ]


def test_quotes_older_than_three_days_close_the_opportunity_at_revalidation() -> None:
    replay = RetailReplay(partitions=1)
    replay.run(pair(100_000, 106_000))
    out = replay.advance(T0 + 1 + 4 * 24 * HOUR)
    assert [e.schema for e in out] == ["ArbitrageOpportunityRevalidated"] * 3 + ["ArbitrageOpportunityClosed"]
    c = out[-1].record
    assert (c["reason"], c["event_time"], c["open_for_s"]) == ("stale_quotes", T0 + 1 + 4 * 24 * HOUR, 4 * 24 * 3600)
    encode_all(out)


def test_a_revision_restarts_the_revalidation_clock() -> None:
    replay = RetailReplay(partitions=1)
    replay.run(pair(400_000, 520_000))
    replay.run([listing("ripley", "2", PHONE, 540_000, t=T0 + 20 * MINUTE)])
    assert of(replay.advance(T0 + 31 * MINUTE), "ArbitrageOpportunityRevalidated") == []
    [v] = of(replay.advance(T0 + 50 * MINUTE), "ArbitrageOpportunityRevalidated")
    assert v["event_time"] == T0 + 50 * MINUTE


# --------------------------------------------------------------------------- replay identity
@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    records, _ = generated_day(tmp_path_factory.mktemp("retail"), 5, date(2025, 9, 4))
    return records


def test_snapshot_and_restore_mid_stream_give_identical_outputs(day: list[dict[str, Any]]) -> None:
    end = day[-1]["event_time"] + 2 * 24 * HOUR
    whole = RetailReplay(partitions=3)
    head, tail = day[: len(day) // 2], day[len(day) // 2 :]
    expected_head = whole.run(head)
    expected_tail = whole.run(tail, until_us=end)

    first = RetailReplay(partitions=3)
    assert first.run(head) == expected_head
    state = json.loads(json.dumps(first.snapshot()))
    resumed = RetailReplay.restore(state)
    got = resumed.run(tail, until_us=end)
    assert [e.record["event_id"] for e in got] == [e.record["event_id"] for e in expected_tail]
    assert got == expected_tail
    assert of(got, "ArbitrageOpportunityRevalidated") and of(got, "ArbitrageOpportunityClosed")


def test_outputs_do_not_depend_on_when_the_partition_clocks_moved(day: list[dict[str, Any]]) -> None:
    end = day[-1]["event_time"] + 3 * HOUR
    fed = RetailReplay(partitions=3)
    expected = fed.run(day, until_us=end)
    stepped = RetailReplay(partitions=3)
    got: list[Emit] = []
    for rec in day:
        got.extend(stepped.advance(rec["event_time"] - 1))  # fire what is due first, then the listing
        got.extend(stepped.feed(rec))
    got.extend(stepped.advance(end))
    assert sorted(e.record["event_id"] for e in got) == sorted(e.record["event_id"] for e in expected)
    by_id = {e.record["event_id"]: e.record for e in expected}
    assert all(by_id[e.record["event_id"]] == e.record for e in got)


def test_the_same_input_twice_makes_no_new_ids(day: list[dict[str, Any]]) -> None:
    a = run_retail(day, until_us=day[-1]["event_time"] + HOUR)
    b = run_retail(day, until_us=day[-1]["event_time"] + HOUR)
    ids = [e.record["event_id"] for e in a]
    assert ids == [e.record["event_id"] for e in b]
    assert len(set(ids)) == len(ids)  # and no id is used twice within a run


def test_a_record_delivered_twice_is_processed_once() -> None:
    replay = RetailReplay()
    recs = pair(400_000, 520_000)
    first = replay.run(recs)
    assert replay.run(recs) == []
    assert of(first, "ArbitrageOpportunity")


def test_the_days_opportunities_encode(day: list[dict[str, Any]], tmp_path: Path) -> None:
    out = run_retail(day, until_us=day[-1]["event_time"] + 6 * HOUR)
    opportunities = [e for e in out if e.topic == "retail.opportunities.v1"]
    assert {e.schema for e in opportunities} == {
        "ArbitrageOpportunity",
        "ArbitrageOpportunityRevalidated",
        "ArbitrageOpportunityClosed",
    }
    encode_all(opportunities)
    for o in of(out, "ArbitrageOpportunity"):
        assert o["margin_clp"] == o["sell_price"] - o["buy_price"] >= 5_000
        assert o["margin_clp"] * 100 >= 5 * o["buy_price"]


def test_an_opportunity_reopened_on_the_same_quotes_gets_a_new_id() -> None:
    """A match retracted and asserted again with no newer quote (a retailer's duplicate listings can make a
    match come and go) reopens its opportunity on the quotes it first opened on: the reopening must not repeat
    the first opportunity's event ids (found by the scale-out test: 15 event ids twice over three days)."""
    from processors.retail import OpportunityTracker

    [match] = [e.record for e in run_retail(pair(10_000, 20_000)) if e.schema == "ProductMatch"]
    tracker = OpportunityTracker(MID)
    first = tracker.on_event("ProductMatch", match)
    retracted = {"event_id": "pmr:1", "event_time": match["event_time"] + HOUR, "match_id": MID,
                 "reason": "listing_withdrawn"}
    closed = tracker.on_event("ProductMatchRetracted", retracted)
    again = {**match, "event_id": "pm:again", "event_time": match["event_time"] + 2 * HOUR}
    restored = OpportunityTracker.restore(MID, json.loads(json.dumps(tracker.snapshot())))
    reopened = restored.on_event("ProductMatch", again)
    [opened] = [e.record for e in first if e.schema == "ArbitrageOpportunity"]
    [reopen] = [e.record for e in reopened if e.schema == "ArbitrageOpportunity"]
    assert [e.schema for e in closed] == ["ArbitrageOpportunityClosed"]
    assert opened["event_id"] == opportunity_id(MID, f"norm:falabella:1:{T0}", f"norm:ripley:2:{T0 + 1}")
    assert reopen["event_id"] == opportunity_id(MID, f"norm:falabella:1:{T0}",
                                                f"norm:ripley:2:{T0 + 1}\n{again['event_time']}")
    ids = [e.record["event_id"] for e in (*first, *closed, *reopened)]
    assert len(ids) == len(set(ids))
