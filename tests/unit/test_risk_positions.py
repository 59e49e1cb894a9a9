"""Positions and PnL (average cost, exact decimals) and the equity, peak and drawdown of an account."""

from __future__ import annotations

from decimal import Decimal

from processors.risk import AccountVenueConfig, BreakerConfig, Position, RiskConfig
from tests.support.risk_events import T0, Run, S, filled, tick

D = Decimal


def fold(*fills: tuple[str, str, str, str]) -> Position:
    pos = Position("BTC/USDT")
    for side, price, qty, fee in fills:
        pos.apply(side == "BUY", D(price), D(qty), D(fee))
    return pos


def test_partial_fills_average_the_entry_price_and_fees_stay_apart() -> None:
    pos = fold(("BUY", "100", "0.5", "0.05"), ("BUY", "104", "1.5", "0.156"))
    assert (pos.quantity, pos.cost, pos.average_price(), pos.realized, pos.fees) == (
        D("2.0"), D("206.00"), D("103"), D(0), D("0.206"))
    assert pos.unrealized(D("110")) == D("14.00")


def test_a_partial_close_realizes_at_the_average_entry_price() -> None:
    pos = fold(("BUY", "100", "0.5", "0"), ("BUY", "104", "1.5", "0"))
    realized = pos.apply(False, D("110"), D("0.5"), D("0.055"))
    assert realized == D("3.5")  # 0.5 x (110 - 103)
    assert (pos.quantity, pos.cost, pos.average_price(), pos.realized, pos.fees) == (
        D("1.5"), D("154.5"), D("103"), D("3.5"), D("0.055"))


def test_a_fill_larger_than_the_position_flips_it_at_the_fill_price() -> None:
    pos = fold(("BUY", "100", "0.5", "0"), ("BUY", "104", "1.5", "0"), ("SELL", "110", "0.5", "0"))
    realized = pos.apply(False, D("90"), D("3"), D("0.27"))
    assert realized == D("-19.5")  # 1.5 x (90 - 103) closes the long ...
    assert (pos.quantity, pos.cost, pos.average_price(), pos.realized) == (D("-1.5"), D("-135"), D("90"), D("-16"))
    assert pos.unrealized(D("85")) == D("7.5")  # ... and 1.5 short at 90 gains 5 a unit at 85


def test_covering_a_short_realizes_the_difference_to_the_entry() -> None:
    pos = fold(("SELL", "90", "1.5", "0"))
    realized = pos.apply(True, D("80"), D("0.5"), D("0"))
    assert realized == D("5")  # bought back 0.5 at 80, sold at 90
    assert (pos.quantity, pos.cost, pos.average_price()) == (D("-1.0"), D("-90"), D("90"))
    realized = pos.apply(True, D("95"), D("1.0"), D("0"))
    assert realized == D("-5")
    assert (pos.quantity, pos.cost, pos.average_price(), pos.realized) == (D("0"), D("0"), None, D("0"))


def test_a_share_of_a_cost_that_does_not_divide_moves_exactly_to_realized() -> None:
    pos = fold(("BUY", "3", "1", "0"), ("BUY", "3", "1", "0"), ("BUY", "4", "1", "0"))
    realized = pos.apply(False, D("5"), D("1"), D("0"))
    assert realized == D("1.666666666666666666666667")  # 5 - 10/3, the share rounded to 1e-24
    assert pos.cost == D("6.666666666666666666666667")
    # realized + unrealized is the cash flow marked to market, exactly: -3 - 3 - 4 + 5 + 2 x 4
    assert pos.realized + pos.unrealized(D("4")) == D("3")


def test_fill_updates_report_position_equity_peak_and_drawdown() -> None:
    account = AccountVenueConfig(starting_equity=D(10_000))
    run = Run(RiskConfig(accounts={"mm-1": {"binance": account}}))
    got = run(filled(T0, "c1", "BUY", "100", "2", "0.2"))
    [update] = run.records("PositionUpdate", got)
    assert update == {
        "event_id": f"position:mm-1:binance:BTC/USDT:c1:filled-{T0}:{T0}",
        "event_time": T0,
        "account": "mm-1",
        "venue": "binance",
        "symbol": "BTC/USDT",
        "reason": "FILL",
        "quantity": D("2.000000000000"),
        "average_price": D("100.000000000000"),
        "mark_price": D("100.000000000000"),  # no tick yet: the last fill price
        "realized_pnl": D("0E-12"),
        "fees": D("0.200000000000"),
        "unrealized_pnl": D("0E-12"),
        "equity": D("9999.800000000000"),
        "peak_equity": D("10000.000000000000"),
        "drawdown_bps": D("0.200000000000"),
        "caused_by": f"c1:filled-{T0}:{T0}",
    }
    assert [e.key for e in got if e.schema == "PositionUpdate"] == ["mm-1:binance:BTC/USDT"]


def test_mark_updates_are_throttled_per_position_and_track_the_peak() -> None:
    account = AccountVenueConfig(starting_equity=D(10_000))
    run = Run(RiskConfig(accounts={"mm-1": {"binance": account}}, breakers=BreakerConfig(volatility_pct=D(50))))
    run(filled(T0, "c1", "BUY", "100", "2", "0.2"))
    assert run.records("PositionUpdate", run(tick(T0 + 30 * S, 109.99, 110.01))) == []  # < 60 s after the fill
    [up] = run.records("PositionUpdate", run(tick(T0 + 60 * S, 109.99, 110.01)))
    assert (up["reason"], up["mark_price"], up["unrealized_pnl"], up["equity"], up["peak_equity"],
            up["drawdown_bps"]) == ("MARK", D("110.000000000000"), D("20.000000000000"), D("10019.800000000000"),
                                    D("10019.800000000000"), D("0E-12"))
    assert run.records("PositionUpdate", run(tick(T0 + 119 * S, 104.99, 105.01))) == []
    [down] = run.records("PositionUpdate", run(tick(T0 + 120 * S, 104.99, 105.01)))
    # 10 below a peak of 10,019.8: 9.980239126529 bps
    assert (down["equity"], down["peak_equity"], down["drawdown_bps"]) == (
        D("10009.800000000000"), D("10019.800000000000"), D("9.980239126529"))


def test_equity_sums_the_symbols_of_the_account_on_the_venue() -> None:
    account = AccountVenueConfig(starting_equity=D(10_000))
    run = Run(RiskConfig(accounts={"mm-1": {"binance": account}}, mark_update_s=0))
    run(tick(T0, 99.99, 100.01), tick(T0, 9.99, 10.01, symbol="ETH/USDT"))
    run(filled(T0 + 1, "b", "BUY", "100", "1", "0.1"))
    run(filled(T0 + 2, "e", "SELL", "10", "5", "0.05", symbol="ETH/USDT"))
    [update] = run.records("PositionUpdate", run(tick(T0 + 3, 10.99, 11.01, symbol="ETH/USDT")))
    # BTC flat at 100; ETH short 5 from 10 now at 11: -5; fees 0.15
    assert (update["symbol"], update["unrealized_pnl"], update["equity"]) == (
        "ETH/USDT", D("-5.000000000000"), D("9994.850000000000"))
    # a venue's equity does not include another venue's positions
    [other] = run.records("PositionUpdate", run(filled(T0 + 4, "k", "BUY", "50", "1", "0", venue="kraken")))
    assert other["equity"] == D("0E-12")  # kraken: no starting equity configured, flat at the fill price


def test_drawdown_is_not_measured_without_a_positive_peak() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=1)))
    run(filled(T0, "c1", "BUY", "100", "1", "0.1"), tick(T0 + 1, 49.99, 50.01))
    assert run.records("BreakerTransition") == []
    assert run.records("PositionUpdate")[-1]["drawdown_bps"] == D("0E-12")
