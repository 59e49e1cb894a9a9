"""The order gate: every rejection reason at its boundary, reservations, and REDUCING."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.risk import AccountVenueConfig, BreakerConfig, GateConfig, RiskConfig
from tests.support.risk_events import T0, Event, Run, S, canceled, filled, probe, rejected, submitted, tick

D = Decimal
GATE = GateConfig(min_notional=D(10), max_notional=D(5_000), quantity_steps={"BTC/USDT": D("0.001")},
                  price_band_pct=D(5), max_reference_age_s=30)
FUNDS = AccountVenueConfig(balances={"USDT": D(10_000), "BTC": D(1)}, starting_equity=D(10_000))


def config(**over: object) -> RiskConfig:
    fields: dict[str, object] = {"gate": GATE, "accounts": {"mm-1": {"binance": FUNDS}},
                                 "breakers": BreakerConfig(consecutive_violations=1, volatility_pct=D(50))}
    fields.update(over)
    return RiskConfig(**fields)  # type: ignore[arg-type]


def decide(run: Run, order: Event) -> tuple[str, str | None]:
    got = run(order)
    [decision] = [e for e in got if e.schema in ("OrderApproved", "OrderRejected")]
    return decision.schema, decision.record.get("reason")


def ready(**over: object) -> Run:
    run = Run(config(**over))
    run(tick(T0, 99.99, 100.01))
    return run


APPROVED = ("OrderApproved", None)


def test_an_approved_order_reports_what_was_checked() -> None:
    run = ready()
    got = run(submitted(T0 + S, "c1", "BUY", "0.5", "99.5"))
    [approved] = run.records("OrderApproved", got)
    assert approved == {
        "event_id": f"risk:c1:submitted:{T0 + S}",
        "event_time": T0 + S,
        "account": "mm-1",
        "venue": "binance",
        "symbol": "BTC/USDT",
        "client_order_id": "c1",
        "side": "BUY",
        "quantity": D("0.500000000000"),
        "price": D("99.500000000000"),
        "reference_price": D("100.000000000000"),
        "notional": D("49.750000000000"),
        "trading_state": "ACTIVE",
        "caused_by": f"c1:submitted:{T0 + S}",
    }
    assert [e.key for e in got] == ["binance:BTC/USDT"]


def test_a_rejection_is_an_order_rejected_by_risk() -> None:
    run = ready()
    got = run(submitted(T0 + S, "c1", "BUY", "0.0005", "100"))
    [rejection] = run.records("OrderRejected", got)
    assert rejection == {
        "event_id": f"risk:c1:submitted:{T0 + S}",
        "event_time": T0 + S,
        "account": "mm-1",
        "venue": "binance",
        "symbol": "BTC/USDT",
        "client_order_id": "c1",
        "rejected_by": "RISK",
        "reason": "QUANTITY_STEP",
        "message": "quantity 0.0005 is not a multiple of the lot step 0.001",
    }


def test_halted() -> None:
    run = ready()
    run(probe(T0 + S, 501.0))
    assert decide(run, submitted(T0 + 2 * S, "c1", "SELL", "0.1", "100")) == ("OrderRejected", "TRADING_HALTED")


@pytest.mark.parametrize(("quantity", "price", "order_type", "reason"), [
    ("0", "100", "LIMIT", "INVALID_QUANTITY"),
    ("-0.1", "100", "LIMIT", "INVALID_QUANTITY"),
    ("0.1", None, "LIMIT", "INVALID_PRICE"),
    ("0.1", "0", "LIMIT", "INVALID_PRICE"),
    ("0.1005", "100", "LIMIT", "QUANTITY_STEP"),
    ("0.1", None, "MARKET", None),
])
def test_order_validity(quantity: str, price: str | None, order_type: str, reason: str | None) -> None:
    run = ready()
    got = decide(run, submitted(T0 + S, "c1", "BUY", quantity, price, order_type=order_type))
    assert got == (APPROVED if reason is None else ("OrderRejected", reason))


def test_reference_price_must_exist_and_be_fresh() -> None:
    run = Run(config())
    assert decide(run, submitted(T0, "c1", "BUY", "0.1", "100")) == ("OrderRejected", "NO_REFERENCE_PRICE")
    run(tick(T0, 99.99, 100.01))
    assert decide(run, submitted(T0 + 30 * S, "c2", "BUY", "0.1", "100")) == APPROVED  # exactly 30 s old
    assert decide(run, submitted(T0 + 30 * S + 1, "c3", "BUY", "0.1", "100")) == (
        "OrderRejected", "STALE_REFERENCE_PRICE")


@pytest.mark.parametrize(("price", "ok"), [("105", True), ("95", True), ("105.000001", False), ("94.99", False)])
def test_price_band_around_the_mid(price: str, ok: bool) -> None:
    run = ready()
    got = decide(run, submitted(T0 + S, "c1", "SELL", "0.2", price))
    assert got == (APPROVED if ok else ("OrderRejected", "PRICE_BAND"))


@pytest.mark.parametrize(("quantity", "price", "reason"), [
    ("0.1", "100", None),  # 10: exactly the minimum
    ("0.099", "100", "MIN_NOTIONAL"),
    ("50", "100", None),  # 5,000: exactly the maximum
    ("50.001", "100", "MAX_NOTIONAL"),
])
def test_notional_limits(quantity: str, price: str, reason: str | None) -> None:
    run = ready(accounts={"mm-1": {"binance": AccountVenueConfig(balances={"USDT": D(10**6), "BTC": D(100)})}})
    got = decide(run, submitted(T0 + S, "c1", "BUY", quantity, price))
    assert got == (APPROVED if reason is None else ("OrderRejected", reason))


def test_market_orders_are_valued_at_the_mid() -> None:
    run = ready()
    got = run(submitted(T0 + S, "c1", "SELL", "0.099", order_type="MARKET"))
    assert [r["reason"] for r in run.records("OrderRejected", got)] == ["MIN_NOTIONAL"]  # 9.9 at the mid


def test_balances_are_reserved_by_open_orders_and_released_by_cancels_and_venue_rejections() -> None:
    run = ready()
    assert decide(run, submitted(T0 + S, "b1", "BUY", "49", "100")) == APPROVED  # reserves 4,900 USDT
    assert decide(run, submitted(T0 + S, "b2", "BUY", "49", "100")) == APPROVED  # 9,800 reserved
    assert decide(run, submitted(T0 + S, "b3", "BUY", "2.001", "100")) == ("OrderRejected", "INSUFFICIENT_BALANCE")
    assert decide(run, submitted(T0 + S, "b4", "BUY", "2", "100")) == APPROVED  # exactly the 200 left
    run(canceled(T0 + 2 * S, "b1"))
    assert decide(run, submitted(T0 + 3 * S, "b5", "BUY", "49", "100")) == APPROVED
    assert decide(run, submitted(T0 + 3 * S, "s1", "SELL", "1.001", "100")) == ("OrderRejected", "INSUFFICIENT_BALANCE")
    assert decide(run, submitted(T0 + 3 * S, "s2", "SELL", "1", "100")) == APPROVED  # all the BTC
    assert decide(run, submitted(T0 + 3 * S, "s3", "SELL", "0.1", "100")) == ("OrderRejected", "INSUFFICIENT_BALANCE")
    run(rejected(T0 + 4 * S, "s2", "PRICE_FILTER"))
    assert decide(run, submitted(T0 + 5 * S, "s4", "SELL", "0.5", "100")) == APPROVED


def test_fills_move_balances_and_release_their_part_of_the_reservation() -> None:
    run = ready()
    assert decide(run, submitted(T0 + S, "b1", "BUY", "50", "100")) == APPROVED  # 5,000 reserved
    run(filled(T0 + 2 * S, "b1", "BUY", "100", "20", "2"))  # pays 2,002; 3,000 still reserved for 30
    funds = run.risk.processor("binance").funds["mm-1"]
    assert (funds.balances["USDT"], funds.balances["BTC"], funds.reserved["USDT"]) == (D(7_998), D(21), D(3_000))
    assert decide(run, submitted(T0 + 3 * S, "b2", "BUY", "49.98", "100")) == APPROVED  # 4,998 = all available
    assert decide(run, submitted(T0 + 3 * S, "b3", "BUY", "0.1", "100")) == ("OrderRejected", "INSUFFICIENT_BALANCE")


def reducing_run() -> Run:
    """mm-1 long 10 BTC bought at 100; the price falls 1.01 %: its drawdown breaker opens."""
    funds = AccountVenueConfig(balances={"USDT": D(10_000), "BTC": D(100)}, starting_equity=D(10_000))
    run = Run(config(accounts={"mm-1": {"binance": funds}}))
    run(tick(T0, 99.99, 100.01), filled(T0, "f", "BUY", "100", "10"), tick(T0 + S, 89.89, 89.91))
    [state] = run.records("TradingStateChanged")
    assert (state["account"], state["to_state"]) == ("mm-1", "REDUCING")
    return run


def test_reducing_lets_only_orders_that_reduce_the_position_through() -> None:
    run = reducing_run()
    t = T0 + 2 * S
    assert decide(run, submitted(t, "b", "BUY", "0.2", "90")) == ("OrderRejected", "TRADING_REDUCING")
    assert decide(run, submitted(t, "s1", "SELL", "10.001", "90")) == ("OrderRejected", "TRADING_REDUCING")  # flip
    assert decide(run, submitted(t, "s2", "SELL", "6", "90")) == APPROVED
    # 6 already on its way: 4.001 more would sell more than the position
    assert decide(run, submitted(t, "s3", "SELL", "4.001", "90")) == ("OrderRejected", "TRADING_REDUCING")
    assert decide(run, submitted(t, "s4", "SELL", "4", "90", order_type="LIMIT")) == APPROVED
    run(canceled(t + 1, "s2"))
    assert decide(run, submitted(t + 2, "s5", "SELL", "6", order_type="MARKET")) == APPROVED
    # another account on the venue is not reducing
    assert decide(run, submitted(t + 3, "x", "BUY", "0.2", "90", account="mm-2")) == (
        "OrderRejected", "INSUFFICIENT_BALANCE")  # (mm-2 has no configured balances)


def test_reducing_rejects_everything_when_flat() -> None:
    run = reducing_run()
    run(filled(T0 + 2 * S, "f2", "SELL", "89.9", "10"))
    assert decide(run, submitted(T0 + 3 * S, "s", "SELL", "0.1", "90")) == ("OrderRejected", "TRADING_REDUCING")


def test_limit_rejections_raise_risk_limit_alerts() -> None:
    run = ready()
    got = run(submitted(T0 + S, "c1", "BUY", "0.1", "110"))
    [alert] = run.records("Alert", got)
    assert (alert["kind"], alert["level"], alert["alert_key"]) == (
        "risk_limit_exceeded", "WARNING", "risk_limit:mm-1@binance:PRICE_BAND")
    assert (alert["value"], alert["threshold"], alert["caused_by"]) == (10.0, 5.0, f"risk:c1:submitted:{T0 + S}")
    assert run.records("Alert", run(submitted(T0 + S, "c2", "BUY", "0.0001", "100"))) == []  # QUANTITY_STEP: no


def test_a_repeated_submission_of_an_open_order_is_decided_once() -> None:
    run = ready()
    order = submitted(T0 + S, "c1", "BUY", "49", "100")  # 4,900 of 10,000 USDT
    assert decide(run, order) == APPROVED
    assert run(order) == []  # not decided again (the 4,900 reserved are its own)
    assert decide(run, submitted(T0 + S, "c2", "BUY", "50", "100")) == APPROVED  # reserved once: 5,100 remain
