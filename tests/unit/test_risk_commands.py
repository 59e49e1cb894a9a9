"""The risk pipeline's commands (processors/risk/commands.py): risk modes on top of the breakers, breaker
resets, orders and position closes through the gate, and every rejection — exact records, through both
stages in process (the rekey stage forwards risk.commands.v1 by venue)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from processors import topics
from processors.risk import AccountVenueConfig, BreakerConfig, GateConfig, InProcessRisk, RiskConfig
from processors.risk.pipeline import risk_pipelines
from processors.risk.rekey import InputRouter, input_key, venue_key
from tests.support.risk_events import T0, Run, S, canceled, command, filled, probe, submitted, tick

D = Decimal
GATE = GateConfig(min_notional=D(10), max_notional=D(5_000), quantity_steps={"BTC/USDT": D("0.001")},
                  price_band_pct=D(5), max_reference_age_s=30)
FUNDS = AccountVenueConfig(balances={"USDT": D(10_000), "BTC": D(1)}, starting_equity=D(10_000))


def config() -> RiskConfig:
    return RiskConfig(gate=GATE, accounts={"mm-1": {"binance": FUNDS}, "mm-2": {"binance": FUNDS}},
                      breakers=BreakerConfig(consecutive_violations=1, latency_ms=D(500), volatility_pct=D(50)))


def ready() -> Run:
    run = Run(config())
    run(tick(T0, 99.99, 100.01))
    return run


def result(run: Run, got: list) -> dict:
    [r] = run.records("CommandResult", got)
    return r


def states(run: Run, got: list) -> list[tuple[str, str, str, str]]:
    return [(r["account"], r["from_state"], r["to_state"], r["caused_by"])
            for r in run.records("TradingStateChanged", got)]


def test_a_command_is_forwarded_by_venue_like_the_other_inputs() -> None:
    schema, record = command(T0, "SET_RISK_MODE", "k1", venue="kraken", mode="HALTED")
    assert input_key(schema, record) == venue_key(schema, record) == "kraken"
    assert InputRouter(RiskConfig(markets={"binance": ["BTC/USDT"]})).destination(schema, record) == "kraken"


def test_halted_mode_halts_every_account_and_the_gate_refuses_orders() -> None:
    run = ready()
    got = run(command(T0 + S, "SET_RISK_MODE", "k1", mode="HALTED", actor="alice"))
    assert states(run, got) == [("mm-1", "ACTIVE", "HALTED", "cmd:k1"), ("mm-2", "ACTIVE", "HALTED", "cmd:k1")]
    [changed, _] = run.records("TradingStateChanged", got)
    assert changed == {
        "event_id": "trading-state:mm-1@binance:ACTIVE>HALTED:cmd:k1", "event_time": T0 + S, "venue": "binance",
        "account": "mm-1", "from_state": "ACTIVE", "to_state": "HALTED", "tripped_breakers": [], "caused_by": "cmd:k1",
    }
    assert result(run, got) == {
        "event_id": "result:k1", "event_time": T0 + S, "idempotency_key": "k1", "kind": "SET_RISK_MODE",
        "owner": "risk", "target": "binance", "status": "ACCEPTED", "reason": None,
        "message": "risk mode HALTED set for every account on binance",
        "caused": ["trading-state:mm-1@binance:ACTIVE>HALTED:cmd:k1",
                   "trading-state:mm-2@binance:ACTIVE>HALTED:cmd:k1"],
        "caused_by": "cmd:k1",
    }
    assert {e.topic for e in got} <= set(risk_pipelines()[1].outputs)  # every output is one the worker writes
    [e] = [e for e in got if e.schema == "CommandResult"]
    assert (e.topic, e.key) == (topics.COMMAND_RESULTS, "k1")
    got = run(submitted(T0 + 2 * S, "c1", "BUY", "0.5", "99.5"))
    assert [r["reason"] for r in run.records("OrderRejected", got)] == ["TRADING_HALTED"]
    got = run(command(T0 + 3 * S, "SET_RISK_MODE", "k2", mode="ACTIVE"))
    assert states(run, got) == [("mm-1", "HALTED", "ACTIVE", "cmd:k2"), ("mm-2", "HALTED", "ACTIVE", "cmd:k2")]
    got = run(submitted(T0 + 4 * S, "c2", "BUY", "0.5", "99.5"))
    assert len(run.records("OrderApproved", got)) == 1


def test_an_accounts_mode_leaves_the_others_and_never_lifts_a_tripped_breaker() -> None:
    run = ready()
    got = run(command(T0 + S, "SET_RISK_MODE", "k1", mode="REDUCING", account="mm-2"))
    assert states(run, got) == [("mm-2", "ACTIVE", "REDUCING", "cmd:k1")]
    assert result(run, got)["message"] == "risk mode REDUCING set for account mm-2 on binance"
    got = run(probe(T0 + 2 * S, 900.0))  # the latency breaker opens: the venue halts
    assert [s[2] for s in states(run, got)] == ["HALTED", "HALTED"]
    got = run(command(T0 + 3 * S, "SET_RISK_MODE", "k2", mode="ACTIVE", account="mm-2"))
    assert states(run, got) == [] and result(run, got)["status"] == "ACCEPTED"  # still HALTED by the breaker
    got = run(command(T0 + 4 * S, "RESET_BREAKER", "k3", breaker="LATENCY:binance"))
    # the reset closes the breaker: mm-1 back to ACTIVE, mm-2 (its override removed) too
    assert run.transitions(got) == [("LATENCY:binance", "OPEN", "CLOSED", T0 + 4 * S)]
    assert states(run, got) == [
        ("mm-1", "HALTED", "ACTIVE", "breaker:LATENCY:binance:OPEN>CLOSED:cmd:k3"),
        ("mm-2", "HALTED", "ACTIVE", "breaker:LATENCY:binance:OPEN>CLOSED:cmd:k3"),
    ]
    r = result(run, got)
    assert (r["status"], r["message"]) == ("ACCEPTED", "LATENCY:binance reset from OPEN to CLOSED")
    assert r["caused"] == ["breaker:LATENCY:binance:OPEN>CLOSED:cmd:k3",
                           "trading-state:mm-1@binance:HALTED>ACTIVE:breaker:LATENCY:binance:OPEN>CLOSED:cmd:k3",
                           "trading-state:mm-2@binance:HALTED>ACTIVE:breaker:LATENCY:binance:OPEN>CLOSED:cmd:k3"]
    [transition] = run.records("BreakerTransition", got)
    assert (transition["caused_by"], transition["value"], transition["open_until"]) == ("cmd:k3", None, None)


def test_a_venue_wide_halt_outranks_an_accounts_reducing() -> None:
    run = ready()
    run(command(T0 + S, "SET_RISK_MODE", "k1", mode="REDUCING", account="mm-1"))
    got = run(command(T0 + 2 * S, "SET_RISK_MODE", "k2", mode="HALTED"))
    assert states(run, got) == [("mm-1", "REDUCING", "HALTED", "cmd:k2"), ("mm-2", "ACTIVE", "HALTED", "cmd:k2")]
    got = run(command(T0 + 3 * S, "SET_RISK_MODE", "k3", mode="ACTIVE"))
    assert states(run, got) == [("mm-1", "HALTED", "REDUCING", "cmd:k3"), ("mm-2", "HALTED", "ACTIVE", "cmd:k3")]


def test_rejections_say_why() -> None:
    run = ready()
    cases = [
        (command(T0 + S, "SET_RISK_MODE", "r1", mode="HALTED", account="nobody"),
         "unknown-account", "no account nobody on binance"),
        (command(T0 + S, "SET_RISK_MODE", "r1b", venue="binanse", mode="HALTED"),
         "unknown-venue", "no account is known on binanse"),
        (command(T0 + S, "SET_RISK_MODE", "r2", mode="PANIC"),
         "invalid-parameter", "mode 'PANIC' must be one of ACTIVE, REDUCING, HALTED"),
        (command(T0 + S, "RESET_BREAKER", "r3", breaker="LATENCY:binance"),
         "breaker-not-tripped", "LATENCY:binance is CLOSED"),
        (command(T0 + S, "RESET_BREAKER", "r4", breaker="LATENCY:kraken"),
         "unknown-breaker", "no breaker LATENCY:kraken on binance"),
        (command(T0 + S, "RESET_BREAKER", "r5"), "invalid-parameter", "breaker is required"),
        (command(T0 + S, "CLOSE_POSITION", "r6", account="mm-1", symbol="BTC/USDT"),
         "no-position", "account mm-1 holds no BTC/USDT on binance"),
        (command(T0 + S, "SUBMIT_ORDER", "r7", account="mm-1", symbol="BTC/USDT", side="BUY", quantity="abc",
                 price="100"), "invalid-parameter", "quantity 'abc' is not a decimal number"),
        (command(T0 + S, "SUBMIT_ORDER", "r8", account="mm-1", symbol="BTC/USDT", side="HOLD", quantity="1"),
         "invalid-parameter", "side 'HOLD' must be BUY or SELL"),
        (command(T0 + S, "SUBMIT_ORDER", "r9", account="mm-1", symbol="BTC/USDT", side="BUY", quantity="NaN",
                 price="100"), "invalid-parameter", "quantity 'NaN' must be positive and below 1E+16"),
        (command(T0 + S, "SUBMIT_ORDER", "r10", account="ghost", symbol="BTC/USDT", side="BUY", quantity="0.1",
                 price="100"), "unknown-account", "no account ghost on binance"),
        (command(T0 + S, "SUBMIT_ORDER", "r11", account="mm-1", symbol="BTC/USDT", side="BUY", quantity="0.1",
                 order_type="MARKET", price="100"), "invalid-parameter", "a MARKET order takes no price"),
    ]
    for event, reason, message in cases:
        got = run(event)
        r = result(run, got)
        assert (r["status"], r["reason"], r["message"], r["caused"]) == ("REJECTED", reason, message, []), event
        assert [e.schema for e in got] == ["CommandResult"]


def test_a_submitted_order_goes_through_the_gate_once() -> None:
    run = ready()
    order = dict(account="mm-1", symbol="BTC/USDT", side="BUY", quantity="0.5", price="99.5")
    got = run(command(T0 + S, "SUBMIT_ORDER", "o1", **order))
    [approved] = run.records("OrderApproved", got)
    assert approved == {
        "event_id": "risk:cmd:o1", "event_time": T0 + S, "account": "mm-1", "venue": "binance",
        "symbol": "BTC/USDT", "client_order_id": "cmd-o1", "side": "BUY", "quantity": D("0.500000000000"),
        "price": D("99.500000000000"), "reference_price": D("100.000000000000"), "notional": D("49.750000000000"),
        "trading_state": "ACTIVE", "caused_by": "cmd:o1",
    }
    r = result(run, got)
    assert (r["status"], r["message"], r["caused"]) == ("ACCEPTED", "order cmd-o1 approved by the risk gate",
                                                        ["risk:cmd:o1"])
    got = run(command(T0 + 2 * S, "SUBMIT_ORDER", "o2", client_order_id="cmd-o1", **order))
    assert result(run, got)["reason"] == "duplicate-order" and run.records("OrderApproved", got) == []
    got = run(command(T0 + 3 * S, "SUBMIT_ORDER", "o3", **{**order, "price": "150"}))
    r = result(run, got)
    assert (r["status"], r["reason"], r["caused"]) == ("REJECTED", "PRICE_BAND", ["risk:cmd:o3"])
    [rejected] = run.records("OrderRejected", got)
    assert (rejected["rejected_by"], rejected["reason"]) == ("RISK", "PRICE_BAND")


def test_closing_a_position_is_a_reduce_only_market_order_for_the_opposite_quantity() -> None:
    run = ready()
    run(submitted(T0 + S, "c1", "BUY", "0.25", "100"), filled(T0 + 2 * S, "c1", "BUY", "100", "0.25"))
    run(command(T0 + 3 * S, "SET_RISK_MODE", "m1", mode="REDUCING", account="mm-1"))
    got = run(command(T0 + 4 * S, "CLOSE_POSITION", "x1", account="mm-1", symbol="BTC/USDT"))
    [approved] = run.records("OrderApproved", got)
    assert (approved["client_order_id"], approved["side"], approved["quantity"], approved["price"],
            approved["trading_state"]) == ("close-x1", "SELL", D("0.250000000000"), None, "REDUCING")
    assert result(run, got)["status"] == "ACCEPTED"
    # a short position closes with a BUY
    run(submitted(T0 + 5 * S, "c2", "SELL", "0.5", "100"), filled(T0 + 6 * S, "c2", "SELL", "100", "0.5",
                                                                     account="mm-2"))
    got = run(command(T0 + 7 * S, "CLOSE_POSITION", "x2", account="mm-2", symbol="BTC/USDT"))
    [approved] = run.records("OrderApproved", got)
    assert (approved["side"], approved["quantity"]) == ("BUY", D("0.500000000000"))


def test_cancelling_an_open_order_asks_its_venue_and_keeps_the_reservation_until_it_is_canceled() -> None:
    run = ready()
    run(submitted(T0 + S, "c1", "BUY", "0.5", "100"), filled(T0 + 2 * S, "c1", "BUY", "100", "0.2"))
    funds = run.risk.processor("binance").funds["mm-1"]
    assert funds.reserved["USDT"] == D("30")  # the unfilled 0.3 x 100
    got = run(command(T0 + 3 * S, "CANCEL_ORDER", "k1", account="mm-1", client_order_id="c1", actor="alice"))
    [request] = run.records("OrderCancelRequested", got)
    assert request == {
        "event_id": "risk:cancel:cmd:k1", "event_time": T0 + 3 * S, "account": "mm-1", "venue": "binance",
        "symbol": "BTC/USDT", "client_order_id": "c1", "requested_by": "alice", "caused_by": "cmd:k1",
    }
    [emit] = [e for e in got if e.schema == "OrderCancelRequested"]
    assert (emit.topic, emit.key) == (topics.DECISIONS, "binance:BTC/USDT")  # where the approval went
    r = result(run, got)
    assert (r["status"], r["reason"], r["message"], r["caused"]) == (
        "ACCEPTED", None, "cancel of order c1 (BTC/USDT) requested from binance", ["risk:cancel:cmd:k1"])
    assert funds.reserved["USDT"] == D("30")  # the order may still fill before the venue cancels it
    run(canceled(T0 + 4 * S, "c1"))
    assert funds.reserved["USDT"] == D("0") and "c1" not in funds.orders


def test_a_cancel_for_an_order_not_open_is_rejected() -> None:
    run = ready()
    run(submitted(T0 + S, "c1", "BUY", "0.5", "100"), filled(T0 + 2 * S, "c1", "BUY", "100", "0.5"))
    run(submitted(T0 + S, "c2", "BUY", "0.1", "100"), canceled(T0 + 2 * S, "c2"))
    cases = [
        ("c1", "mm-1", "order-not-open", "order c1 of mm-1 is not open on binance (unknown or final)"),  # filled
        ("c2", "mm-1", "order-not-open", "order c2 of mm-1 is not open on binance (unknown or final)"),  # canceled
        ("nope", "mm-1", "order-not-open", "order nope of mm-1 is not open on binance (unknown or final)"),
        ("c1", "mm-2", "order-not-open", "order c1 of mm-2 is not open on binance (unknown or final)"),  # not its
        ("c1", "ghost", "unknown-account", "no account ghost on binance"),
        ("", "mm-1", "invalid-parameter", "client_order_id is required"),
    ]
    for i, (coid, account, reason, message) in enumerate(cases):
        got = run(command(T0 + 3 * S, "CANCEL_ORDER", f"k{i}", account=account, client_order_id=coid))
        r = result(run, got)
        assert (r["status"], r["reason"], r["message"], r["caused"]) == ("REJECTED", reason, message, []), coid
        assert [e.schema for e in got] == ["CommandResult"]


def test_a_halted_close_is_rejected_by_the_gate() -> None:
    run = ready()
    run(submitted(T0 + S, "c1", "BUY", "0.25", "100"), filled(T0 + 2 * S, "c1", "BUY", "100", "0.25"))
    run(command(T0 + 3 * S, "SET_RISK_MODE", "m1", mode="HALTED"))
    got = run(command(T0 + 4 * S, "CLOSE_POSITION", "x1", account="mm-1", symbol="BTC/USDT"))
    r = result(run, got)
    assert (r["status"], r["reason"]) == ("REJECTED", "TRADING_HALTED")


def test_a_command_is_handled_at_the_processors_clock() -> None:
    run = ready()
    run(tick(T0 + 10 * S, 99.99, 100.01))
    got = run(command(T0 + 5 * S, "SET_RISK_MODE", "k1", mode="HALTED"))  # issued earlier than the last tick
    assert result(run, got)["event_time"] == T0 + 10 * S


MODES = st.sampled_from(["ACTIVE", "REDUCING", "HALTED"])
STEPS = st.lists(st.one_of(
    st.tuples(st.just("mode"), MODES, st.sampled_from([None, "mm-1", "mm-2"])),
    st.tuples(st.just("probe"), st.sampled_from([10.0, 900.0]), st.none()),
    st.tuples(st.just("reset"), st.none(), st.none()),
), max_size=25)
SEVERITY = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


@settings(max_examples=60, deadline=None)
@given(STEPS, st.integers(0, 25))
def test_state_is_the_most_restrictive_of_breakers_and_modes_and_restore_changes_nothing(steps, cut) -> None:
    events = []
    for i, (what, value, account) in enumerate(steps):
        t = T0 + (i + 1) * S
        if what == "mode":
            params = {"mode": value} if account is None else {"mode": value, "account": account}
            events.append(command(t, "SET_RISK_MODE", f"k{i}", **params))
        elif what == "probe":
            events.append(probe(t, value))
        else:
            events.append(command(t, "RESET_BREAKER", f"k{i}", breaker="LATENCY:binance"))
    whole = Run(config())
    whole(tick(T0, 99.99, 100.01), *events)
    proc = whole.risk.processor("binance")
    for account in ("mm-1", "mm-2"):
        expected = "HALTED" if proc.tripped else "ACTIVE"
        for scope in ("", account):
            mode = proc.overrides.get(scope, "ACTIVE")
            if SEVERITY[mode] > SEVERITY[expected]:
                expected = mode
        assert proc.states[account] == expected
    # snapshot and restore at any point: the same outputs
    first = Run(config())
    first(tick(T0, 99.99, 100.01), *events[:cut])
    resumed = Run(config())
    resumed.risk = InProcessRisk.restore(first.risk.snapshot(), config())
    resumed(*events[cut:])
    assert first.out + resumed.out == whole.out
