"""Properties of the paper venue over generated order flow and ticks (hypothesis): fills never exceed an
order's quantity, never cross a limit the wrong way, never come before arrival; fees are never negative;
every order ends at most once (an operator's cancel included); the same input gives the same output; a snapshot
anywhere changes nothing."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from processors import topics
from processors.venue import PaperVenueConfig
from tests.support.paper import Paper, approved, cancel_requested
from tests.support.risk_events import MS, T0, tick

D = Decimal
SYMBOLS = ("BTC/USDT", "ETH/USDT")

prices = st.integers(9_000, 11_000).map(lambda n: n / 100)  # 90.00 .. 110.00
quantities = st.integers(1, 500).map(lambda n: str(D(n) / 100))


@st.composite
def flows(draw: st.DrawFn) -> list[tuple[str, tuple]]:
    events: list[tuple[str, tuple]] = []
    t = T0
    for i in range(draw(st.integers(1, 40))):
        t += draw(st.integers(-20, 200)) * MS  # times may go back (late ticks, late approvals)
        symbol = draw(st.sampled_from(SYMBOLS))
        placed = [(r["client_order_id"], r["event_time"], r["symbol"]) for _, (schema, r) in events
                  if schema == "OrderApproved"]
        if placed and draw(st.integers(0, 4)) == 0:  # an operator's cancel of an earlier order, after its approval
            coid, approved_at, on = draw(st.sampled_from(placed))
            events.append((topics.DECISIONS, cancel_requested(max(t, approved_at), coid, symbol=on, key=f"c{i}")))
        elif draw(st.booleans()):
            limit = draw(st.none() | prices.map(lambda p: f"{p:.2f}"))
            events.append((topics.DECISIONS, approved(t, f"o{i}", draw(st.sampled_from(("BUY", "SELL"))),
                                                      draw(quantities), limit, symbol=symbol)))
        else:
            bid = draw(st.none() | prices)
            ask = None if bid is None else bid + draw(st.integers(0, 50)) / 100
            last = draw(st.none() | prices)
            events.append((topics.TICKS, tick(t, bid, ask, last=last, symbol=symbol, event_id=f"t{i}")))
    return events


configs = st.builds(
    PaperVenueConfig,
    latency_ms=st.sampled_from((0.0, 1.0, 50.0, 500.0)),
    time_in_force_s=st.sampled_from((None, 0.1, 1.0, 60.0)),
    max_fill_quantity=st.none() | quantities.map(D),
    markets=st.sampled_from(({}, {"binance": ("BTC/USDT",)})),
)


def run(config: PaperVenueConfig, events: list, cut: int | None = None) -> list:
    paper = Paper(config)
    if cut is None:
        paper.feed(*events)
    else:
        paper.feed(*events[:cut])
        state = json.loads(json.dumps(paper.run.snapshot()))
        out = paper.out
        paper = Paper(config)
        paper.run.restore_state(state)
        paper.out = out
        paper.feed(*events[cut:])
    paper.advance(T0 + 10**9)
    return paper.out


@settings(max_examples=150, deadline=None)
@given(configs, flows())
def test_fills_are_bounded_by_the_order_and_its_limit(config: PaperVenueConfig, events: list) -> None:
    out = run(config, events)
    orders = {r["client_order_id"]: r for topic, (schema, r) in events if schema == "OrderApproved"}
    cancels: dict[str, set[int]] = defaultdict(set)
    for _, (schema, r) in events:
        if schema == "OrderCancelRequested":
            cancels[r["client_order_id"]].add(r["event_time"])
    filled: dict[str, Decimal] = defaultdict(D)
    ended: dict[str, int] = defaultdict(int)
    accepted: set[str] = set()
    ids = [e.record["event_id"] for e in out]
    assert len(ids) == len(set(ids))
    for e in out:
        r = e.record
        order = orders[r["client_order_id"]]
        arrival = order["event_time"] + config.latency_us
        if e.schema == "OrderAccepted":
            assert r["event_time"] == arrival
            accepted.add(r["client_order_id"])
        elif e.schema == "OrderFilled":
            assert r["client_order_id"] in accepted and not ended[r["client_order_id"]]
            assert r["event_time"] >= arrival
            assert r["fee"] >= 0 and r["fill_quantity"] > 0
            filled[r["client_order_id"]] += r["fill_quantity"]
            assert filled[r["client_order_id"]] <= order["quantity"]
            if order["price"] is not None:
                assert r["fill_price"] <= order["price"] if r["side"] == "BUY" else r["fill_price"] >= order["price"]
            if filled[r["client_order_id"]] == order["quantity"]:
                ended[r["client_order_id"]] += 1
        else:
            ended[r["client_order_id"]] += 1
            assert e.schema in ("OrderCanceled", "OrderRejected")
            if e.schema == "OrderRejected":
                assert r["reason"] == "UNKNOWN_SYMBOL" and config.markets and r["symbol"] != "BTC/USDT"
            elif r["reason"] == "USER":
                assert r["event_time"] in cancels[r["client_order_id"]]
            else:
                assert r["event_time"] == arrival + config.time_in_force_us
    assert all(n <= 1 for n in ended.values())
    if config.time_in_force_s is not None:  # time ran out for every order: each ended once
        assert set(ended) == set(orders)


@settings(max_examples=60, deadline=None)
@given(configs, flows(), st.integers(0, 40))
def test_same_input_same_output_and_a_snapshot_anywhere_changes_nothing(config: PaperVenueConfig, events: list,
                                                                        cut: int) -> None:
    once = run(config, events)
    assert run(config, events) == once
    assert run(config, events, min(cut, len(events))) == once
