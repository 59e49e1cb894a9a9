"""The paper venue (processors/venue): latency, fees, partial fills, limits, expiry, late ticks, unknown
symbols, exact values; state survives a snapshot; and the closed loop with the risk pipeline in process."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from processors import topics
from processors.risk import RiskConfig
from processors.risk.config import AccountVenueConfig, GateConfig
from processors.venue import FeeSchedule, InProcessPaper, PaperVenueConfig
from tests.support.paper import ClosedLoop, Paper, approved, brief, cancel_requested
from tests.support.risk_events import MS, T0, S, command, submitted, tick

D = Decimal
COID = "o1"


def test_an_order_fills_at_the_first_tick_at_or_after_approval_plus_latency() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=50))
    assert paper.order(T0, COID, "BUY", "2") == []
    assert paper.ticks(T0 + 49 * MS, 99.0, 101.0) == []  # before arrival: nothing, not even the ack
    got = paper.ticks(T0 + 50 * MS, 99.5, 100.5)
    assert brief(got) == [
        ("OrderAccepted", T0 + 50 * MS, COID),
        ("OrderFilled", T0 + 50 * MS, COID, "BUY", "100.500000000000", "2.000000000000", "0.100500000000", "TAKER"),
    ]
    accepted, fill = (e.record for e in got)
    assert accepted["ack_latency_ms"] == 50.0
    assert accepted["event_id"] == "paper:o1:submitted:accepted"
    assert accepted["venue_order_id"] == fill["venue_order_id"] == "paper:o1:submitted"
    assert (fill["event_id"], fill["trade_id"]) == ("paper:o1:submitted:fill:1", "paper:o1:submitted:1")
    assert fill["fee_currency"] == "USDT"
    assert {e.key for e in got} == {"binance:BTC/USDT"}
    assert paper.ticks(T0 + 60 * MS, 90.0, 91.0) == []  # filled: nothing more


def test_the_ack_comes_at_arrival_by_the_partition_clock_without_a_tick_of_the_symbol() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=120))
    paper.order(T0, COID, "SELL", "1")
    got = paper.ticks(T0 + S, 10.0, 11.0, symbol="ETH/USDT")  # another key of the partition moves its clock
    assert brief(got) == [("OrderAccepted", T0 + 120 * MS, COID)]


def test_a_sell_fills_at_the_bid_and_a_one_sided_tick_at_its_last() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0, max_fill_quantity=D(1)))
    paper.order(T0, COID, "SELL", "2")
    got = paper.ticks(T0 + MS, 99.25, 99.75) + paper.ticks(T0 + 2 * MS, None, None, last=98.0)
    assert [x[3:7] for x in brief(got) if x[0] == "OrderFilled"] == [
        ("SELL", "99.250000000000", "1.000000000000", "0.049625000000"),
        ("SELL", "98.000000000000", "1.000000000000", "0.049000000000"),
    ]


def test_fees_per_venue_maker_and_taker() -> None:
    config = PaperVenueConfig(latency_ms=0, fees=FeeSchedule(maker_bps=D(2), taker_bps=D(10)),
                              venue_fees={"kraken": FeeSchedule(maker_bps=D("0.5"), taker_bps=D(0))})
    paper = Paper(config)
    paper.order(T0, "m", "BUY", "2", "100")  # rests: the first tick's ask is above its limit
    paper.order(T0, "t", "BUY", "1", "102")  # marketable at its first tick: a taker, at the ask
    paper.order(T0, "k", "SELL", "4", "50", venue="kraken", symbol="BTC/USD")
    first = paper.ticks(T0 + MS, 100.5, 101.0)
    later = paper.ticks(T0 + 2 * MS, 99.0, 99.5)  # the ask reaches the resting BUY: filled at its limit
    kraken = paper.ticks(T0 + MS, 60.0, 61.0, venue="kraken", symbol="BTC/USD")
    fills = [x for x in brief(first + later + kraken) if x[0] == "OrderFilled"]
    assert fills == [
        ("OrderFilled", T0 + MS, "t", "BUY", "101.000000000000", "1.000000000000", "0.101000000000", "TAKER"),
        ("OrderFilled", T0 + 2 * MS, "m", "BUY", "100.000000000000", "2.000000000000", "0.040000000000", "MAKER"),
        ("OrderFilled", T0 + MS, "k", "SELL", "60.000000000000", "4.000000000000", "0.000000000000", "TAKER"),
    ]
    assert [e.record["fee_currency"] for e in later + kraken if e.schema == "OrderFilled"] == ["USDT", "USD"]


def test_partial_fills_share_a_tick_first_come_first_served() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0, max_fill_quantity=D("1.5")))
    paper.order(T0, "a", "BUY", "2")
    paper.order(T0 + MS, "b", "BUY", "1")
    paper.order(T0 + MS, "s", "SELL", "1")  # the other side has its own 1.5
    got = paper.ticks(T0 + 2 * MS, 99.0, 100.0) + paper.ticks(T0 + 3 * MS, 99.0, 100.0)
    fills = [(x[2], x[5], x[1]) for x in brief(got) if x[0] == "OrderFilled"]
    assert fills == [
        ("a", "1.500000000000", T0 + 2 * MS), ("s", "1.000000000000", T0 + 2 * MS),
        ("a", "0.500000000000", T0 + 3 * MS), ("b", "1.000000000000", T0 + 3 * MS),
    ]
    ids = [e.record["event_id"] for e in got if e.schema == "OrderFilled"]
    assert ids == ["paper:a:submitted:fill:1", "paper:s:submitted:fill:1", "paper:a:submitted:fill:2",
                   "paper:b:submitted:fill:1"]


def test_a_limit_order_the_book_never_crosses_expires_at_its_time_in_force() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=10, time_in_force_s=5))
    paper.order(T0, COID, "BUY", "1", "95")
    got = []
    for i in range(1, 6):
        got += paper.ticks(T0 + i * S, 96.0, 96.5)  # (the last one, T0 + 5 s, is inside the time in force)
    assert brief(got) == [("OrderAccepted", T0 + 10 * MS, COID)]
    assert brief(paper.advance(T0 + 60 * S)) == [("OrderCanceled", T0 + 5 * S + 10 * MS, COID, "EXPIRED")]
    assert paper.ticks(T0 + 61 * S, 90.0, 91.0) == []  # gone


def test_expiry_cancels_what_is_left_stamped_with_the_expiry() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=10, time_in_force_s=5, max_fill_quantity=D(1)))
    paper.order(T0, COID, "BUY", "3", "95")
    got = paper.ticks(T0 + S, 96.0, 96.5)  # does not cross: the order rests
    got += paper.ticks(T0 + 2 * S, 94.0, 94.5)  # crosses: a maker fill of 1 at 95
    got += paper.ticks(T0 + 5 * S + 10 * MS, 90.0, 91.0)  # at the expiry: canceled first, no fill
    assert brief(got) == [
        ("OrderAccepted", T0 + 10 * MS, COID),
        ("OrderFilled", T0 + 2 * S, COID, "BUY", "95.000000000000", "1.000000000000", "0.009500000000", "MAKER"),
        ("OrderCanceled", T0 + 5 * S + 10 * MS, COID, "EXPIRED"),
    ]


def test_expiry_by_the_partition_clock_and_good_till_canceled() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0, time_in_force_s=2))
    assert brief(paper.order(T0, COID, "SELL", "1", "200")) == [("OrderAccepted", T0, COID)]  # no latency: at once
    assert brief(paper.advance(T0 + 10 * S)) == [("OrderCanceled", T0 + 2 * S, COID, "EXPIRED")]
    gtc = Paper(PaperVenueConfig(latency_ms=0, time_in_force_s=None))
    gtc.order(T0, COID, "SELL", "1", "200")
    assert gtc.advance(T0 + 3600 * S) == []
    assert [x[0] for x in brief(gtc.ticks(T0 + 3601 * S, 201.0, 202.0))] == ["OrderFilled"]


def test_the_limit_is_never_crossed_the_wrong_way() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0))
    paper.order(T0, "b", "BUY", "1", "100")
    paper.order(T0, "s", "SELL", "1", "102")
    assert [x[0] for x in brief(paper.ticks(T0 + MS, 100.5, 101.5))] == []  # ask 101.5 > 100, bid 100.5 < 102
    got = brief(paper.ticks(T0 + 2 * MS, 102.0, 102.5))  # the bid reaches the SELL only
    assert [(x[2], x[4]) for x in got] == [("s", "102.000000000000")]
    got = brief(paper.ticks(T0 + 3 * MS, 99.0, 100.0))  # the ask reaches the BUY, exactly at its limit
    assert [(x[2], x[4], x[7]) for x in got] == [("b", "100.000000000000", "MAKER")]


def test_late_ticks_are_ignored_and_counted() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0))
    paper.order(T0, COID, "BUY", "1", "100")
    paper.ticks(T0 + 100 * MS, 100.5, 101.0)  # rests
    assert paper.ticks(T0 + 80 * MS, 99.0, 99.5) == []  # older than the book: not a book
    assert paper.run.processor("binance:BTC/USDT").late_ticks == 1
    got = brief(paper.ticks(T0 + 100 * MS, 99.0, 99.5))  # the same time as the book: in time
    assert [(x[0], x[4]) for x in got] == [("OrderFilled", "100.000000000000")]


def test_an_approval_that_arrives_after_its_ticks_fills_at_the_next_one() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=50))
    paper.ticks(T0 + S, 99.0, 100.0)
    got = paper.order(T0, COID, "BUY", "1")  # the live edge: its time is behind the ticks already read
    assert brief(got) == []  # it reaches the venue at T0 + 50 ms; the next event of the key is later
    got = paper.ticks(T0 + 2 * S, 99.0, 101.0)
    assert [(x[0], x[1]) for x in brief(got)] == [("OrderAccepted", T0 + 50 * MS), ("OrderFilled", T0 + 2 * S)]


def test_an_unlisted_symbol_is_rejected_by_the_venue_and_other_venues_are_not_ours() -> None:
    config = PaperVenueConfig(latency_ms=20, markets={"binance": ("BTC/USDT",)})
    paper = Paper(config)
    assert paper.order(T0, "x", "BUY", "1", symbol="DOGE/USDT") == []
    got = paper.ticks(T0 + S, 1.0, 1.1, symbol="DOGE/USDT")
    assert brief(got) == [("OrderRejected", T0 + 20 * MS, "x", "VENUE", "UNKNOWN_SYMBOL")]
    assert got[0].record["message"] == "DOGE/USDT is not listed on the paper venue binance"
    assert got[0].record["event_id"] == "paper:x:submitted:rejected"
    paper.order(T0, "k", "BUY", "1", venue="kraken")  # executed elsewhere (e.g. the ccxt adapter)
    assert paper.ticks(T0 + S, 1.0, 1.1, venue="kraken") == []
    assert paper.advance(T0 + 3600 * S) == []


def test_what_the_rekey_stage_forwards() -> None:
    run = InProcessPaper(PaperVenueConfig(), 1)
    decision = ("OrderRejected", {"event_id": "risk:r", "event_time": T0, "account": "mm-1", "venue": "binance",
                                  "symbol": "BTC/USDT", "client_order_id": "r", "rejected_by": "RISK",
                                  "reason": "PRICE_BAND", "message": None})
    assert run.run_events([(topics.DECISIONS, *decision)]) == []
    assert run.run_events([(topics.TICKS, *tick(T0, 1.0, 2.0, backfill_id="bf-1"))]) == []
    out = run.run_events([(topics.TICKS, *tick(T0, 1.0, 2.0)), (topics.DECISIONS, *approved(T0, "a", "BUY", "1")),
                          (topics.DECISIONS, *cancel_requested(T0, "a"))])
    assert [(e.topic, e.key, e.schema) for e in out] == [
        (topics.PAPER_INPUTS, "binance:BTC/USDT", "PriceTick"), (topics.PAPER_INPUTS, "binance:BTC/USDT",
                                                                 "OrderApproved"),
        (topics.PAPER_INPUTS, "binance:BTC/USDT", "OrderCancelRequested"), (topics.ORDERS, "binance:BTC/USDT",
                                                                        "OrderCanceled")]
    served = InProcessPaper(PaperVenueConfig(markets={"binance": ["BTC/USDT"]}), 1)
    assert served.run_events([(topics.DECISIONS, *cancel_requested(T0, "a", venue="kraken"))]) == []


def test_a_repeat_of_an_open_order_is_not_a_second_order() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0))
    paper.order(T0, COID, "BUY", "1", "90")
    assert paper.order(T0 + MS, COID, "BUY", "1", "90") == []
    got = brief(paper.ticks(T0 + 2 * MS, 88.0, 89.0))
    assert [x[0] for x in got] == ["OrderFilled"]
    assert [x[0] for x in brief(paper.out)] == ["OrderAccepted", "OrderFilled"]


def test_a_cancel_of_a_partly_filled_order_cancels_only_the_rest() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=10, max_fill_quantity=D(1)))
    paper.order(T0, COID, "BUY", "3", "100")
    paper.ticks(T0 + S, 99.0, 99.5)  # a taker fill of 1 at the ask
    got = paper.cancel(T0 + 2 * S, COID)
    assert brief(got) == [("OrderCanceled", T0 + 2 * S, COID, "USER")]
    [canceled] = (e.record for e in got)
    assert canceled == {
        "event_id": "paper:o1:submitted:canceled", "event_time": T0 + 2 * S, "account": "mm-1", "venue": "binance",
        "symbol": "BTC/USDT", "client_order_id": COID, "venue_order_id": "paper:o1:submitted", "reason": "USER",
    }
    assert got[0].key == "binance:BTC/USDT"
    assert paper.ticks(T0 + 3 * S, 98.0, 98.5) == []  # the 2 left are gone: no more fills
    assert brief(paper.out) == [
        ("OrderAccepted", T0 + 10 * MS, COID),
        ("OrderFilled", T0 + S, COID, "BUY", "99.500000000000", "1.000000000000", "0.049750000000", "TAKER"),
        ("OrderCanceled", T0 + 2 * S, COID, "USER"),
    ]
    assert paper.cancel(T0 + 4 * S, COID, key="k2") == []  # a second cancel: nothing left to cancel


def test_a_cancel_after_the_full_fill_or_of_an_unknown_order_does_nothing() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=0, time_in_force_s=5))
    paper.order(T0, COID, "SELL", "1")
    paper.ticks(T0 + MS, 99.0, 99.5)  # filled completely
    paper.order(T0, "other", "BUY", "1", "90", account="mm-2")
    assert paper.cancel(T0 + S, COID) == []  # filled: its final event is already written
    assert paper.cancel(T0 + S, "nope") == []
    assert paper.cancel(T0 + S, "other") == []  # another account's order of that id: not this one
    assert paper.cancel(T0 + S, COID, venue="kraken") == []  # another venue: another key, no such order
    # the other order is untouched and still expires on its time
    assert brief(paper.advance(T0 + 10 * S)) == [("OrderCanceled", T0 + 5 * S, "other", "EXPIRED")]


def test_a_cancel_before_arrival_cancels_the_order_before_it_is_accepted() -> None:
    paper = Paper(PaperVenueConfig(latency_ms=100))
    paper.order(T0, COID, "BUY", "1", "100")
    assert brief(paper.cancel(T0 + 50 * MS, COID)) == [("OrderCanceled", T0 + 50 * MS, COID, "USER")]
    assert paper.advance(T0 + S) == []  # never arrives: no OrderAccepted
    # a cancel at the arrival time comes after the arrival (arrivals due by the request's time first)
    paper.order(T0 + S, "o2", "BUY", "1", "100")
    assert brief(paper.cancel(T0 + S + 100 * MS, "o2")) == [
        ("OrderAccepted", T0 + S + 100 * MS, "o2"), ("OrderCanceled", T0 + S + 100 * MS, "o2", "USER")]


SCRIPT = [
    (topics.DECISIONS, approved(T0, "a", "BUY", "3", "100")),
    (topics.DECISIONS, approved(T0 + MS, "b", "SELL", "2")),
    (topics.TICKS, tick(T0 + 60 * MS, 100.5, 101.0, event_id="t1")),
    (topics.TICKS, tick(T0 + 70 * MS, 99.0, 99.5, event_id="t2")),
    (topics.TICKS, tick(T0 + 65 * MS, 98.0, 98.5, event_id="t3")),  # late
    (topics.TICKS, tick(T0 + 80 * MS, 99.0, 100.0, event_id="t4")),
    (topics.DECISIONS, approved(T0 + S, "c", "BUY", "1", "90")),
    (topics.TICKS, tick(T0 + 2 * S, 99.0, 100.0, event_id="t5")),
    (topics.DECISIONS, cancel_requested(T0 + 3 * S, "c")),
    (topics.DECISIONS, cancel_requested(T0 + 3 * S, "a", key="k2")),  # filled: nothing
]


def test_a_snapshot_midway_continues_exactly() -> None:
    config = PaperVenueConfig(max_fill_quantity=D(1), time_in_force_s=30)
    whole = Paper(config)
    whole.feed(*SCRIPT)
    whole.advance(T0 + 60 * S)
    for cut in range(len(SCRIPT) + 1):
        first = Paper(config)
        first.feed(*SCRIPT[:cut])
        state = first.run.snapshot()
        second = Paper(config)
        second.run.restore_state(json.loads(json.dumps(state)))
        second.feed(*SCRIPT[cut:])
        second.advance(T0 + 60 * S)
        assert first.out + second.out == whole.out, cut
    assert brief(whole.out) == [
        ("OrderAccepted", T0 + 50 * MS, "a"),
        ("OrderAccepted", T0 + 51 * MS, "b"),
        # t1: the SELL takes 1 at the bid; the BUY rests (ask 101 > 100)
        ("OrderFilled", T0 + 60 * MS, "b", "SELL", "100.500000000000", "1.000000000000", "0.050250000000", "TAKER"),
        # t2: the ask reaches the BUY: a maker fill at its limit, 1 per tick and side
        ("OrderFilled", T0 + 70 * MS, "a", "BUY", "100.000000000000", "1.000000000000", "0.010000000000", "MAKER"),
        ("OrderFilled", T0 + 70 * MS, "b", "SELL", "99.000000000000", "1.000000000000", "0.049500000000", "TAKER"),
        # t3 is late (65 ms < 70 ms): nothing; t4
        ("OrderFilled", T0 + 80 * MS, "a", "BUY", "100.000000000000", "1.000000000000", "0.010000000000", "MAKER"),
        ("OrderAccepted", T0 + S + 50 * MS, "c"),
        ("OrderFilled", T0 + 2 * S, "a", "BUY", "100.000000000000", "1.000000000000", "0.010000000000", "MAKER"),
        ("OrderCanceled", T0 + 3 * S, "c", "USER"),  # an operator's cancel before its expiry
    ]


def test_unknown_snapshot_version_is_refused() -> None:
    from processors.venue import PaperVenueProcessor

    with pytest.raises(ValueError, match="snapshot version"):
        PaperVenueProcessor.restore("binance:BTC/USDT", {"version": 99})


# ---------------------------------------------------------------------- the closed loop, in process
def loop_config() -> RiskConfig:
    funds = AccountVenueConfig(balances={"USDT": D(100_000), "BTC": D(10)}, starting_equity=D(200_000))
    return RiskConfig(gate=GateConfig(min_notional=D(10), max_notional=D(50_000)),
                      accounts={"mm-1": {"binance": funds}}, mark_update_s=3600)


def test_orders_go_through_the_gate_the_venue_fills_them_and_positions_follow() -> None:
    loop = ClosedLoop(loop_config(), PaperVenueConfig(latency_ms=50, max_fill_quantity=D("0.5")))
    events = [
        tick(T0, 99.99, 100.01),
        submitted(T0 + S, "buy-1", "BUY", "1.2", order_type="MARKET"),
        submitted(T0 + S, "too-big", "BUY", "1000", order_type="MARKET"),  # MAX_NOTIONAL: never reaches the venue
        tick(T0 + 2 * S, 99.99, 100.01),
        tick(T0 + 3 * S, 99.99, 100.01),
        tick(T0 + 4 * S, 99.99, 100.01),
        submitted(T0 + 5 * S, "sell-1", "SELL", "0.4", "100.02", order_type="LIMIT"),
        tick(T0 + 6 * S, 99.99, 100.01),  # rests
        tick(T0 + 7 * S, 100.03, 100.05),  # the bid reaches it: a maker fill at its limit
    ]
    loop.run(events)
    decisions = [(r["client_order_id"], r.get("reason")) for r in loop.records("OrderApproved")
                 + loop.records("OrderRejected") if r["event_id"].startswith("risk:")]
    assert sorted(decisions) == [("buy-1", None), ("sell-1", None), ("too-big", "MAX_NOTIONAL")]
    fills = [(r["client_order_id"], f"{r['fill_quantity']:f}", f"{r['fill_price']:f}")
             for r in loop.records("OrderFilled")]
    assert fills == [("buy-1", "0.500000000000", "100.010000000000"), ("buy-1", "0.500000000000", "100.010000000000"),
                     ("buy-1", "0.200000000000", "100.010000000000"), ("sell-1", "0.400000000000", "100.020000000000")]
    positions = [r for r in loop.records("PositionUpdate") if r["reason"] == "FILL"]
    assert [(f"{r['quantity']:f}", r["caused_by"]) for r in positions] == [
        ("0.500000000000", f"paper:buy-1:submitted:{T0 + S}:fill:1"),
        ("1.000000000000", f"paper:buy-1:submitted:{T0 + S}:fill:2"),
        ("1.200000000000", f"paper:buy-1:submitted:{T0 + S}:fill:3"),
        ("0.800000000000", f"paper:sell-1:submitted:{T0 + 5 * S}:fill:1")]
    # fees: taker 1.2 x 100.01 x 5 bps = 0.060006, maker 0.4 x 100.02 x 1 bps = 0.0040008
    assert f"{positions[-1]['fees']:f}" == "0.064006800000"
    assert loop.risk.processor("binance").funds["mm-1"].orders == {}  # the fills released every reservation
    assert not loop.records("BreakerTransition")


def test_an_operators_cancel_goes_risk_to_venue_and_releases_what_was_unfilled() -> None:
    loop = ClosedLoop(loop_config(), PaperVenueConfig(latency_ms=50, max_fill_quantity=D("0.5")))
    loop.run([
        tick(T0, 99.99, 100.01),
        submitted(T0 + S, "buy-1", "BUY", "2", "100.02"),
        tick(T0 + 2 * S, 99.99, 100.01),  # a taker fill of 0.5 at the ask
        command(T0 + 3 * S, "CANCEL_ORDER", "k1", account="mm-1", client_order_id="buy-1"),
        tick(T0 + 4 * S, 99.99, 100.01),  # canceled: no more fills
        command(T0 + 5 * S, "CANCEL_ORDER", "k2", account="mm-1", client_order_id="buy-1"),  # final by now
    ])
    assert [(r["client_order_id"], f"{r['fill_quantity']:f}") for r in loop.records("OrderFilled")] == [
        ("buy-1", "0.500000000000")]
    [request] = loop.records("OrderCancelRequested")
    assert (request["event_id"], request["event_time"], request["symbol"]) == (
        "risk:cancel:cmd:k1", T0 + 3 * S, "BTC/USDT")
    [canceled] = loop.records("OrderCanceled")
    assert (canceled["event_time"], canceled["reason"], canceled["event_id"]) == (
        T0 + 3 * S, "USER", f"paper:buy-1:submitted:{T0 + S}:canceled")
    results = [(r["idempotency_key"], r["status"], r["reason"]) for r in loop.records("CommandResult")]
    assert results == [("k1", "ACCEPTED", None), ("k2", "REJECTED", "order-not-open")]
    funds = loop.risk.processor("binance").funds["mm-1"]
    assert funds.orders == {} and funds.reserved["USDT"] == D(0)  # the 1.5 unfilled is released
    assert funds.balances["BTC"] == D("10.5")
