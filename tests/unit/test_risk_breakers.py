"""The five circuit breakers: the same transition table for each, then each one's measurement and limits.

Table (N = 3, cooldown 60 s doubling up to 200 s; one observation every 5 s, step k at T0 + 5 s x k):
two violations and a good observation do not open (the count resets); three in a row do; while OPEN
observations are ignored; at exactly the cooldown end the breaker goes HALF_OPEN (stamped with the
cooldown end) and that very observation decides; a violation reopens with the cooldown doubled, and
capped; a good observation closes and resets the cooldown.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext

import pytest

from processors.risk import AccountVenueConfig, BreakerConfig, RiskConfig, VenueOverrides
from tests.support.risk_events import (
    MS,
    T0,
    Event,
    Run,
    S,
    accepted,
    filled,
    heartbeat,
    probe,
    rejected,
    submitted,
    tick,
)

STEP = 5 * S


def at(k: int) -> int:
    return T0 + k * STEP


class Driver:
    """Makes a violating or a within-limits observation of one breaker at step k."""

    name = ""
    config = RiskConfig()

    def setup(self) -> list[Event]:
        return []

    def observe(self, k: int, violating: bool) -> list[Event]:
        raise NotImplementedError


TIMING = {"consecutive_violations": 3, "cooldown_s": 60, "max_cooldown_s": 200}


class Latency(Driver):
    name = "LATENCY:binance"
    config = RiskConfig(breakers=BreakerConfig(**TIMING))

    def observe(self, k: int, violating: bool) -> list[Event]:
        return [probe(at(k), 500.1 if violating else 500.0)]


class Spread(Driver):
    name = "SPREAD:binance:BTC/USDT"
    config = RiskConfig(breakers=BreakerConfig(**TIMING))

    def observe(self, k: int, violating: bool) -> list[Event]:
        return [tick(at(k), 99.9, 100.1000001 if violating else 100.1)]  # 20.000009 bps vs exactly 20 bps


class Volatility(Driver):
    """Window 6 s: it holds the tick of the step before; a violation moves the mid 6 %."""

    name = "VOLATILITY:binance:BTC/USDT"
    config = RiskConfig(breakers=BreakerConfig(volatility_window_s=6, **TIMING))

    def __init__(self) -> None:
        self.mid = 100.0

    def observe(self, k: int, violating: bool) -> list[Event]:
        if violating:
            self.mid = 106.0 if self.mid == 100.0 else 100.0
        return [tick(at(k), self.mid - 0.01, self.mid + 0.01)]


class ErrorRate(Driver):
    """Window 1 s, one sample is enough: each probe alone decides (100 % or 0 %)."""

    name = "ERROR_RATE:binance"
    config = RiskConfig(breakers=BreakerConfig(error_window_s=1, error_min_samples=1, **TIMING))

    def observe(self, k: int, violating: bool) -> list[Event]:
        return [probe(at(k), 10.0, ok=not violating)]


class Drawdown(Driver):
    """Long 10 BTC at 100 on 10,000 of equity: mid 90 is exactly 100 bps down, 89.99 is 100.1 bps."""

    name = "DRAWDOWN:mm-1@binance"
    config = RiskConfig(
        breakers=BreakerConfig(volatility_pct=Decimal(50), **TIMING),
        accounts={"mm-1": {"binance": AccountVenueConfig(starting_equity=Decimal(10_000))}},
    )

    def setup(self) -> list[Event]:
        return [tick(T0 - S, 99.995, 100.005), filled(T0 - S, "c1", "BUY", "100", "10")]

    def observe(self, k: int, violating: bool) -> list[Event]:
        mid = 89.99 if violating else 90.0
        return [tick(at(k), round(mid - 0.005, 3), round(mid + 0.005, 3))]


DRIVERS: list[Callable[[], Driver]] = [Latency, Spread, Volatility, ErrorRate, Drawdown]

# step -> violating?; every other step in 0..160 is filler (alternating) inside cooldowns
KEY_STEPS: dict[int, bool] = {
    0: True, 1: True, 2: False, 3: True, 4: True, 5: True,
    17: True, 41: False, 42: True, 43: True, 44: True, 56: True, 80: True, 120: True, 160: False,
}
EXPECTED = [  # (from, to, step)
    ("CLOSED", "OPEN", 5),
    ("OPEN", "HALF_OPEN", 17), ("HALF_OPEN", "OPEN", 17),  # cooldown 60 s -> reopen for 120 s
    ("OPEN", "HALF_OPEN", 41), ("HALF_OPEN", "CLOSED", 41),
    ("CLOSED", "OPEN", 44),  # cooldown back to 60 s
    ("OPEN", "HALF_OPEN", 56), ("HALF_OPEN", "OPEN", 56),  # 120 s
    ("OPEN", "HALF_OPEN", 80), ("HALF_OPEN", "OPEN", 80),  # 240 s capped to 200 s
    ("OPEN", "HALF_OPEN", 120), ("HALF_OPEN", "OPEN", 120),  # stays 200 s
    ("OPEN", "HALF_OPEN", 160), ("HALF_OPEN", "CLOSED", 160),
]
COOLDOWNS_MS = [60_000, 120_000, 60_000, 120_000, 200_000, 200_000]  # of the transitions to OPEN, in order


@pytest.mark.parametrize("make", DRIVERS, ids=lambda d: d.__name__)
def test_transition_table(make: Callable[[], Driver]) -> None:
    driver = make()
    run = Run(driver.config)
    run(*driver.setup())
    assert run.transitions() == []
    for k in range(161):
        violating = KEY_STEPS.get(k, k % 2 == 0)
        run(*driver.observe(k, violating))
    mine = [r for r in run.records("BreakerTransition") if f"{r['breaker']}:{r['scope']}" == driver.name]
    others = [r for r in run.records("BreakerTransition") if f"{r['breaker']}:{r['scope']}" != driver.name]
    assert others == []
    assert [(r["from_state"], r["to_state"], r["event_time"]) for r in mine] == [
        (a, b, at(k)) for a, b, k in EXPECTED
    ]
    opened = [r for r in mine if r["to_state"] == "OPEN"]
    assert [r["cooldown_ms"] for r in opened] == COOLDOWNS_MS
    assert [r["open_until"] for r in opened] == [r["event_time"] + r["cooldown_ms"] * MS for r in opened]
    assert [r["consecutive_violations"] for r in opened] == [3, 1, 3, 1, 1, 1]
    for r in mine:
        if r["to_state"] == "HALF_OPEN":  # the cooldown ended: no measurement, no cause
            assert (r["value"], r["caused_by"], r["cooldown_ms"], r["open_until"]) == (None, None, None, None)
        else:
            assert r["caused_by"] is not None and r["value"] is not None
            assert (r["value"] > r["threshold"]) == (r["to_state"] == "OPEN")


def test_transition_records_carry_the_measurement_and_threshold() -> None:
    run = Run(Latency.config)
    got = run(probe(T0, 800.0), probe(T0 + S, 900.0), probe(T0 + 2 * S, 612.5))
    [opened] = run.records("BreakerTransition", got)
    assert opened == {
        "event_id": f"breaker:LATENCY:binance:CLOSED>OPEN:binance:ping:{T0 + 2 * S}",
        "event_time": T0 + 2 * S,
        "venue": "binance",
        "breaker": "LATENCY",
        "scope": "binance",
        "account": None,
        "symbol": None,
        "from_state": "CLOSED",
        "to_state": "OPEN",
        "value": Decimal("612.500000000000"),
        "threshold": Decimal("500.000000000000"),
        "unit": "ms",
        "consecutive_violations": 3,
        "cooldown_ms": 60_000,
        "open_until": T0 + 62 * S,
        "caused_by": f"binance:ping:{T0 + 2 * S}",
    }


def test_spread_value_is_exact() -> None:
    run = Run(Spread.config)
    run(*Spread().observe(0, True), *Spread().observe(1, True), *Spread().observe(2, True))
    [opened] = run.records("BreakerTransition")
    with localcontext() as ctx:
        ctx.prec = 60
        bid, ask = Decimal("99.9"), Decimal("100.1000001")
        expected = ((ask - bid) / ((ask + bid) / 2) * 10_000).quantize(Decimal("1e-12"))
    assert opened["value"] == expected == Decimal("20.000009990000")
    assert opened["unit"] == "bps"


def test_cooldown_ends_by_the_partition_clock_when_the_venue_is_quiet() -> None:
    """binance and kraken share a partition: kraken's events move the clock past binance's cooldown."""
    run = Run(Latency.config, partitions=1)
    run(probe(T0, 600.0), probe(T0 + S, 600.0), probe(T0 + 2 * S, 600.0))
    assert run.transitions() == [("LATENCY:binance", "CLOSED", "OPEN", T0 + 2 * S)]
    assert run(probe(T0 + 61 * S, 20.0, venue="kraken")) == []
    got = run(probe(T0 + 62 * S + 1, 20.0, venue="kraken"))
    assert run.transitions(got) == [("LATENCY:binance", "OPEN", "HALF_OPEN", T0 + 62 * S)]
    got = run(probe(T0 + 63 * S, 20.0))  # binance's next observation closes it
    assert run.transitions(got) == [("LATENCY:binance", "HALF_OPEN", "CLOSED", T0 + 63 * S)]


def test_cooldown_ends_at_the_first_own_event_when_alone_in_its_partition() -> None:
    run = Run(Latency.config.model_copy(update={"forward_heartbeats": True}), partitions=1)
    run(probe(T0, 600.0), probe(T0 + S, 600.0), probe(T0 + 2 * S, 600.0))
    assert run(heartbeat(T0 + 62 * S - 1)) == []  # 1 µs before the end: still OPEN
    got = run(heartbeat(T0 + 62 * S))
    assert run.transitions(got) == [("LATENCY:binance", "OPEN", "HALF_OPEN", T0 + 62 * S)]


def test_order_acks_are_latency_observations() -> None:
    run = Run(Latency.config)
    run(accepted(T0, "a", 501.0), accepted(T0 + 1, "b", None), accepted(T0 + 2, "c", 700.0))
    assert run.transitions() == []  # the ack without a latency is no observation, and no reset either
    run(accepted(T0 + 3, "d", 500.01))
    assert run.transitions() == [("LATENCY:binance", "CLOSED", "OPEN", T0 + 3)]


def test_failed_probes_are_not_latency_observations() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(error_min_samples=100)))
    run(*(probe(T0 + k * S, 2000.0, ok=False) for k in range(5)))
    assert run.transitions() == []


def test_error_rate_needs_the_minimum_sample_size_and_more_than_the_threshold() -> None:
    config = RiskConfig(breakers=BreakerConfig(error_window_s=60, error_min_samples=10, consecutive_violations=1))
    run = Run(config)
    # 9 samples, 5 failed: fewer than 10 samples is no observation
    run(*(probe(T0 + k * S, 10.0, ok=k % 2 == 1) for k in range(9)))
    assert run.transitions() == []
    run = Run(config)
    # 1 failure in 10 samples = 10 %: not more than 10 %
    run(rejected(T0, "x", "SERVICE_UNAVAILABLE"), *(probe(T0 + k * S, 10.0) for k in range(1, 10)))
    assert run.transitions() == []
    # a second failure among 19 samples: 10.53 %
    run(*(accepted(T0 + 10 * S + k * S, f"a{k}") for k in range(8)), probe(T0 + 18 * S, 10.0, ok=False))
    [opened] = run.records("BreakerTransition")
    assert (opened["breaker"], opened["to_state"], opened["value"]) == (
        "ERROR_RATE", "OPEN", Decimal("10.526315789474"))


def test_error_rate_window_includes_a_sample_exactly_window_old() -> None:
    config = RiskConfig(breakers=BreakerConfig(error_window_s=60, error_min_samples=2, consecutive_violations=1))
    run = Run(config)
    run(probe(T0, 10.0, ok=False), probe(T0 + 30 * S, 10.0, ok=True))
    assert run.transitions() == [("ERROR_RATE:binance", "CLOSED", "OPEN", T0 + 30 * S)]  # 1 of 2 failed
    run = Run(config)
    run(probe(T0, 10.0, ok=False))
    for k in range(1, 12):
        run(probe(T0 + k * 5 * S, 10.0))  # 1 of 2 = 50 % at once (opens), then it decays
    assert run.transitions()[0] == ("ERROR_RATE:binance", "CLOSED", "OPEN", T0 + 5 * S)
    run = Run(RiskConfig(breakers=BreakerConfig(error_window_s=60, error_min_samples=3, error_rate_pct=Decimal(40),
                                                consecutive_violations=1)))
    run(probe(T0, 10.0, ok=False), probe(T0 + 1, 10.0, ok=False), probe(T0 + 60 * S, 10.0))
    assert run.transitions() == [("ERROR_RATE:binance", "CLOSED", "OPEN", T0 + 60 * S)]  # 2 of 3, both in
    run = Run(RiskConfig(breakers=BreakerConfig(error_window_s=60, error_min_samples=3, error_rate_pct=Decimal(40),
                                                consecutive_violations=1)))
    run(probe(T0, 10.0, ok=False), probe(T0 + 1, 10.0, ok=False), probe(T0 + 60 * S + 1, 10.0))
    assert run.transitions() == []  # the first failure is 1 µs too old: 1 of 2 samples, below the minimum


def test_error_rate_counts_venue_rejections_but_not_risk_ones_nor_excluded_reasons() -> None:
    config = RiskConfig(breakers=BreakerConfig(error_window_s=60, error_min_samples=2, consecutive_violations=1,
                                               error_excluded_reasons=("PRICE_FILTER",)))
    run = Run(config)
    run(rejected(T0, "a", "RISK_LIMIT", by="RISK"), rejected(T0 + 1, "b", "PRICE_FILTER"), accepted(T0 + 2, "c"))
    assert run.transitions() == []  # 0 failures in 2 samples (the RISK rejection is no sample)
    run(rejected(T0 + 3, "d", "SERVICE_UNAVAILABLE"))
    assert run.transitions() == [("ERROR_RATE:binance", "CLOSED", "OPEN", T0 + 3)]


def test_volatility_window_keeps_a_tick_exactly_window_old() -> None:
    config = RiskConfig(breakers=BreakerConfig(consecutive_violations=1))
    run = Run(config)
    run(tick(T0, 104.99, 105.01), tick(T0 + 300 * S, 99.99, 100.01))  # (105 - 100) / 100 = 5 %: not more
    assert run.transitions() == []
    run = Run(config)
    run(tick(T0, 104.99, 105.02), tick(T0 + 300 * S, 99.99, 100.01))  # high 105.005: 5.005 %
    [opened] = run.records("BreakerTransition")
    assert (opened["breaker"], opened["value"], opened["unit"]) == ("VOLATILITY", Decimal("5.005000000000"), "pct")
    run = Run(config)
    run(tick(T0, 104.99, 105.02), tick(T0 + 300 * S + 1, 99.99, 100.01))  # the high left the window
    assert run.transitions() == []


def test_volatility_uses_the_last_price_of_one_sided_ticks() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=1)))
    run(tick(T0, None, None, last=100.0), tick(T0 + S, None, 94.0, last=94.99))
    [opened] = run.records("BreakerTransition")
    with localcontext() as ctx:
        ctx.prec = 60
        expected = (Decimal("5.01") / Decimal("94.99") * 100).quantize(Decimal("1e-12"))
    assert (opened["breaker"], opened["value"]) == ("VOLATILITY", expected)


def test_spread_boundary_is_exact_where_doubles_are_not() -> None:
    # (1.001 - 0.999) in doubles is 0.0019999999999997797: the float test alone would say "below"; exactly 20 bps
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=1)))
    run(tick(T0, 0.999, 1.001, symbol="X/USDT"), tick(T0 + 1, 0.1, 0.1002, symbol="Y/USDT"))
    assert run.transitions() == []  # and 0.1 / 0.1002 is 19.98 bps
    run(tick(T0 + 2, 0.999, 1.00100000001, symbol="X/USDT"))
    assert run.transitions() == [("SPREAD:binance:X/USDT", "CLOSED", "OPEN", T0 + 2)]


def test_one_sided_and_crossed_ticks_are_no_spread_observations() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=2)))
    run(tick(T0, 99.0, 101.0), tick(T0 + 1, None, 101.0, last=100.0), tick(T0 + 2, 101.0, 99.0, last=100.0))
    assert run.transitions() == []  # one violation, then no observations: the count stays at 1
    run(tick(T0 + 3, 99.0, 101.0))
    assert run.transitions() == [("SPREAD:binance:BTC/USDT", "CLOSED", "OPEN", T0 + 3)]


def test_thresholds_are_configurable_per_venue() -> None:
    config = RiskConfig(breakers=BreakerConfig(consecutive_violations=1),
                        venues={"kraken": VenueOverrides(breakers={"latency_ms": 800, "consecutive_violations": 2})})
    run = Run(config)
    run(probe(T0, 700.0, venue="kraken"), probe(T0, 700.0))
    assert run.transitions() == [("LATENCY:binance", "CLOSED", "OPEN", T0)]
    run(probe(T0 + 1, 801.0, venue="kraken"), probe(T0 + 2, 801.0, venue="kraken"))
    assert run.transitions()[1:] == [("LATENCY:kraken", "CLOSED", "OPEN", T0 + 2)]
    with pytest.raises(ValueError, match="venues.kraken.breakers"):
        RiskConfig(venues={"kraken": VenueOverrides(breakers={"latency_msec": 1})})


def states(run: Run) -> list[tuple[str, str, str, list[str]]]:
    return [(f"{r['account']}@{r['venue']}", r["from_state"], r["to_state"], r["tripped_breakers"])
            for r in run.records("TradingStateChanged")]


def test_trading_state_follows_the_breakers() -> None:
    accounts = {a: {"binance": AccountVenueConfig(starting_equity=Decimal(10_000))} for a in ("mm-1", "mm-2")}
    config = RiskConfig(breakers=BreakerConfig(consecutive_violations=1, cooldown_s=10,
                                               volatility_pct=Decimal(50)), accounts=accounts)
    run = Run(config)
    run(tick(T0, 99.995, 100.005), filled(T0, "c1", "BUY", "100", "10"))
    run(probe(T0 + S, 900.0))  # latency: the whole venue halts
    assert states(run) == [
        ("mm-1@binance", "ACTIVE", "HALTED", ["LATENCY:binance"]),
        ("mm-2@binance", "ACTIVE", "HALTED", ["LATENCY:binance"]),
    ]
    run(tick(T0 + 2 * S, 89.985, 89.995))  # mm-1 down 100.1 bps: its drawdown opens, still HALTED
    assert len(states(run)) == 2
    run(probe(T0 + 11 * S, 20.0))  # HALF_OPEN then CLOSED: mm-1 is REDUCING, mm-2 ACTIVE
    assert states(run)[2:] == [
        ("mm-1@binance", "HALTED", "REDUCING", ["DRAWDOWN:mm-1@binance"]),
        ("mm-2@binance", "HALTED", "ACTIVE", []),
    ]
    back = tick(T0 + 13 * S, 99.995, 100.005)  # back at the peak: HALF_OPEN at +12 s, then CLOSED
    run(back)
    assert states(run)[4:] == [("mm-1@binance", "REDUCING", "ACTIVE", [])]
    change = run.records("TradingStateChanged")[4]
    assert change["caused_by"] == f"breaker:DRAWDOWN:mm-1@binance:HALF_OPEN>CLOSED:{back[1]['event_id']}"
    assert change["event_id"] == f"trading-state:mm-1@binance:REDUCING>ACTIVE:{change['caused_by']}"


def test_an_account_first_seen_on_a_halted_venue_is_halted_at_once() -> None:
    run = Run(RiskConfig(breakers=BreakerConfig(consecutive_violations=1)))
    run(probe(T0, 900.0))
    assert states(run) == []  # no account known yet
    got = run(submitted(T0 + 1, "c1", "BUY", "0.1", "100"))
    assert states(run) == [("mm-1@binance", "ACTIVE", "HALTED", ["LATENCY:binance"])]
    assert [r["reason"] for r in run.records("OrderRejected", got)] == ["TRADING_HALTED"]
