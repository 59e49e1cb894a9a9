"""Alert throttling per key on event time, and the alerts the risk processor raises."""

from __future__ import annotations

import json
from decimal import Decimal

from processors.alerts import AlertThrottle
from processors.risk import AccountVenueConfig, AlertConfig, BreakerConfig, RiskConfig
from tests.support.risk_events import T0, Run, S, filled, probe, tick

MIN = 60 * S


def alert(key: str, t: int) -> dict:
    return {"alert_key": key, "event_time": t, "suppressed_count": 0}


def test_one_alert_per_key_per_window_and_the_next_carries_the_suppressed_count() -> None:
    throttle = AlertThrottle(5 * MIN)
    assert throttle.admit("a", T0) == 0
    assert throttle.admit("a", T0 + 1) is None
    assert throttle.admit("b", T0 + 2) == 0  # keys are independent
    assert throttle.admit("a", T0 + 5 * MIN - 1) is None
    assert throttle.admit("a", T0 + 5 * MIN) == 2  # exactly one window later: passes, carrying 2
    assert throttle.admit("a", T0 + 6 * MIN) is None
    assert throttle.admit("a", T0 + 10 * MIN) == 1
    assert throttle.admit("a", T0 + 15 * MIN) == 0
    assert throttle.admit("a", T0 + 14 * MIN) is None  # out of order: older than the last alert


def test_offer_sets_the_suppressed_count_on_the_alert() -> None:
    throttle = AlertThrottle(MIN)
    assert throttle.offer(alert("k", T0)) == alert("k", T0)
    assert throttle.offer(alert("k", T0 + 10)) is None
    assert throttle.offer(alert("k", T0 + 20)) is None
    assert throttle.offer(alert("k", T0 + MIN)) == {**alert("k", T0 + MIN), "suppressed_count": 2}


def test_a_zero_window_lets_everything_through() -> None:
    throttle = AlertThrottle(0)
    assert [throttle.admit("k", T0) for _ in range(3)] == [0, 0, 0]


def test_pruning_idle_keys_changes_nothing_and_snapshots_round_trip() -> None:
    pruned, kept = AlertThrottle(MIN, prune_every=2), AlertThrottle(MIN, prune_every=10**9)
    sequence = [("a", T0), ("a", T0 + 1), ("b", T0 + 2), ("c", T0 + MIN + 5), ("a", T0 + 2 * MIN), ("b", T0 + 2 * MIN),
                ("d", T0 + 3 * MIN), ("a", T0 + 3 * MIN + 1), ("a", T0 + 5 * MIN)]
    assert [pruned.admit(k, t) for k, t in sequence] == [kept.admit(k, t) for k, t in sequence]
    assert len(pruned.last) < len(kept.last)
    state = json.loads(json.dumps(pruned.snapshot()))
    again = AlertThrottle.restore(state, MIN, prune_every=2)
    assert [again.admit(k, T0 + 5 * MIN + i) for i, k in enumerate("abcd")] == [
        pruned.admit(k, T0 + 5 * MIN + i) for i, k in enumerate("abcd")]


def kinds(run: Run, got: list | None = None) -> list[tuple[str, str, str, int]]:
    return [(a["kind"], a["level"], a["alert_key"], a["suppressed_count"]) for a in run.records("Alert", got)]


def test_venue_down_after_consecutive_failed_probes_and_up_again() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(error_min_samples=1000)))
    run(probe(T0, 10.0, ok=False), probe(T0 + S, 10.0, ok=False), probe(T0 + 2 * S, 10.0))
    assert kinds(run) == []  # two failures, then an answer
    run(*(probe(T0 + (3 + k) * S, 10.0, ok=False, error="HTTP 502") for k in range(4)))
    run(probe(T0 + 7 * S, 30.0))
    assert kinds(run) == [("venue_down", "ERROR", "venue_down:binance", 0), ("venue_up", "INFO", "venue_up:binance", 0)]
    down = run.records("Alert")[0]
    assert down["message"] == "binance is down: 3 failed health probes in a row (last: HTTP 502)"
    assert (down["caused_by"], down["value"]) == (f"binance:ping:{T0 + 5 * S}", 3.0)


def test_breaker_alerts_and_their_throttling() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=1, cooldown_s=10)))
    run(probe(T0, 600.0), probe(T0 + 10 * S, 20.0))  # opens, then HALF_OPEN and CLOSED at +10 s
    run(probe(T0 + 20 * S, 600.0), probe(T0 + 30 * S, 20.0))  # again within 5 minutes: throttled
    run(probe(T0 + 5 * MIN, 600.0))  # opened again, 5 minutes after the first: passes with the count
    assert [k for k in kinds(run) if k[0].startswith("breaker")] == [
        ("breaker_opened", "ERROR", "breaker_opened:LATENCY:binance", 0),
        ("breaker_closed", "INFO", "breaker_closed:LATENCY:binance", 0),
        ("breaker_opened", "ERROR", "breaker_opened:LATENCY:binance", 1),
    ]
    first = run.records("Alert")[0]
    assert first["message"] == "LATENCY breaker of binance opened: 600 ms > 500 ms (1 in a row); cooldown 10 s"
    assert (first["value"], first["threshold"], first["details"]["scope"]) == (600.0, 500.0, "binance")
    assert first["event_id"] == f"alert:breaker_opened:LATENCY:binance:{first['caused_by']}"


def test_trading_state_alerts_by_level() -> None:
    funds = AccountVenueConfig(starting_equity=Decimal(10_000))
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=1, cooldown_s=10, volatility_pct=Decimal(50)),
                         accounts={"mm-1": {"binance": funds}}))
    run(tick(T0, 99.99, 100.01), filled(T0, "f", "BUY", "100", "10"), tick(T0 + S, 89.89, 89.91))
    run(probe(T0 + 2 * S, 900.0), probe(T0 + 13 * S, 20.0))
    states = [k for k in kinds(run) if k[0] == "trading_state_changed"]
    assert states == [
        ("trading_state_changed", "WARNING", "trading_state:mm-1@binance:REDUCING", 0),
        ("trading_state_changed", "CRITICAL", "trading_state:mm-1@binance:HALTED", 0),
    ]  # back to REDUCING at +13 s: the same key within 5 minutes, suppressed and counted
    assert [r["to_state"] for r in run.records("TradingStateChanged")] == ["REDUCING", "HALTED", "REDUCING"]
    assert run.risk.processor("binance").throttle.suppressed == {"trading_state:mm-1@binance:REDUCING": 1}
    drawdown = [k for k in kinds(run) if k[2] == "breaker_opened:DRAWDOWN:mm-1@binance"]
    assert drawdown == [("breaker_opened", "CRITICAL", "breaker_opened:DRAWDOWN:mm-1@binance", 0)]


def test_position_opened_closed_and_flipped() -> None:
    run = Run(RiskConfig(alerts=AlertConfig(throttle_s=0)))
    run(filled(T0, "a", "BUY", "100", "1"), filled(T0 + 1, "b", "BUY", "101", "1"))
    run(filled(T0 + 2, "c", "SELL", "102", "3"), filled(T0 + 3, "d", "BUY", "99", "1"))
    assert [k[:3] for k in kinds(run)] == [
        ("position_opened", "INFO", "position_opened:mm-1@binance:BTC/USDT"),
        ("position_closed", "INFO", "position_closed:mm-1@binance:BTC/USDT"),  # the flip closes the long ...
        ("position_opened", "INFO", "position_opened:mm-1@binance:BTC/USDT"),  # ... and opens the short
        ("position_closed", "INFO", "position_closed:mm-1@binance:BTC/USDT"),
    ]
    messages = [a["message"] for a in run.records("Alert")]
    assert messages[1] == "mm-1 closed long 2 BTC/USDT on binance at 102; realized PnL 3 (before fees)"
    assert messages[2] == "mm-1 opened short 1 BTC/USDT on binance at 102"
    assert messages[3] == "mm-1 closed short 1 BTC/USDT on binance at 99; realized PnL 3 (before fees)"


def test_large_loss_of_one_fill() -> None:
    run = Run(RiskConfig(alerts=AlertConfig(throttle_s=0, large_loss=Decimal(1_000))))
    run(filled(T0, "a", "BUY", "100", "200"), filled(T0 + 1, "b", "SELL", "95.00005", "200"))  # loses 999.99
    assert [k[0] for k in kinds(run)] == ["position_opened", "position_closed"]
    run(filled(T0 + 2, "c", "BUY", "100", "200"), filled(T0 + 3, "d", "SELL", "95", "200"))  # loses 1,000
    assert kinds(run)[-1] == ("large_loss", "ERROR", "large_loss:mm-1@binance:BTC/USDT", 0)
    assert run.records("Alert")[-1]["value"] == 1000.0
