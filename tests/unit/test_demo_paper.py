"""The demo's paper-venue summary (streams/commands/demo_paper.py ``summarize``) over the closed loop's real
outputs in process (risk gate → paper venue → fills): every kind of outcome once."""

from __future__ import annotations

from decimal import Decimal

from processors import topics
from processors.risk import RiskConfig
from processors.risk.config import AccountVenueConfig, GateConfig
from processors.venue import PaperVenueConfig
from streams.commands.demo_paper import LoopSummary, summarize
from tests.support.paper import ClosedLoop
from tests.support.risk_events import T0, S, submitted, tick

D = Decimal
ETH = {"symbol": "ETH/USDT"}


def test_the_summary_counts_each_outcome_of_the_loop() -> None:
    funds = AccountVenueConfig(balances={"USDT": D(1_000_000), "BTC": D(10), "ETH": D(10)},
                               starting_equity=D(1_000_000))
    risk = RiskConfig(gate=GateConfig(min_notional=D(1), max_notional=D(50_000)),
                      accounts={"mm-1": {"binance": funds}}, mark_update_s=3600)
    paper = PaperVenueConfig(latency_ms=0, max_fill_quantity=D("0.5"), time_in_force_s=5,
                             markets={"binance": ("BTC/USDT",)})  # ETH/USDT is not listed: the venue refuses
    loop = ClosedLoop(risk, paper)
    loop.run([
        tick(T0, 100.00, 100.02),
        tick(T0, 2000.0, 2000.5, **ETH),
        submitted(T0 + S, "whole", "BUY", "0.8", order_type="MARKET"),  # 0.5 + 0.3: filled in two fills
        submitted(T0 + S, "part", "SELL", "2", "100.00"),  # 0.5 on each of three ticks, then expires
        submitted(T0 + S, "never", "BUY", "1", "96"),  # never crossed: expires unfilled
        submitted(T0 + S, "big", "BUY", "1000", order_type="MARKET"),  # MAX_NOTIONAL: refused by the gate
        submitted(T0 + S, "eth", "BUY", "0.1", order_type="MARKET", **ETH),  # refused by the venue
        tick(T0 + 2 * S, 100.00, 100.02),
        tick(T0 + 3 * S, 100.00, 100.02),
        tick(T0 + 4 * S, 100.00, 100.02),
        tick(T0 + 8 * S, 99.0, 101.0),  # crosses nothing; past the expiries (arrival + 5 s)
        submitted(T0 + 9 * S, "late", "BUY", "0.1", "96"),  # still open at the end
    ])
    decisions = [(e.schema, e.record) for e in loop.out if e.topic == topics.DECISIONS]
    lifecycle = [(e.schema, e.record) for e in loop.out if e.topic == topics.ORDERS]
    assert summarize(decisions, lifecycle) == LoopSummary(
        approved=5, refused={"MAX_NOTIONAL": 1}, fills=5, filled=1, partially_filled=1, expired_unfilled=1,
        open=1, venue_rejected=1)


def test_the_generators_own_lifecycle_events_do_not_count() -> None:
    decisions = [("OrderApproved", {"client_order_id": "a", "quantity": D(1)})]
    lifecycle = [("OrderFilled", {"event_id": "a:filled:2", "client_order_id": "a", "fill_quantity": D(1)})]
    assert summarize(decisions, lifecycle) == LoopSummary(
        approved=1, refused={}, fills=0, filled=0, partially_filled=0, expired_unfilled=0, open=1, venue_rejected=0)
