"""The generated market day through both risk stages, in-process.

The drawdown expectation is computed here independently of the processors (fractions instead of
decimals, a plain loop instead of the fast float path): for each venue, the fill or tick at which
account mm-1's equity has been more than 100 bps below its peak three observations in a row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.risk import VENUES, day_config, day_records
from processors.core import Emit
from processors.partitioning import partition_of
from processors.risk import BreakerConfig, InProcessRisk, risk_pipelines
from streams.codec.coerce import timestamp_micros
from streams.codec.serde import AvroSerde
from streams.runtime.driver import PipelineDriver
from tests.support.risk_events import encode_all

SEED = 42
DAY = date(2026, 11, 20)
START_EQUITY = Fraction(40_000)


@dataclass
class Day:
    records: list[tuple[str, dict[str, Any]]]
    crash: tuple[int, int]
    scenario: dict[str, Any]
    outputs: list[Emit] = field(default_factory=list)


@pytest.fixture(scope="module")
def day(generated_days) -> Day:  # tests/conftest.py: made once per session
    out, manifest = generated_days(SEED, DAY, ("crypto", "orders"))
    crash = manifest.scenario["crypto"]["crash"]
    result = Day(day_records(Path(out)), (timestamp_micros(crash["start"]), timestamp_micros(crash["end"])),
                 manifest.scenario["crypto"])
    result.outputs = InProcessRisk(day_config()).run(result.records)
    return result


def fraction(x: Any) -> Fraction:
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def expected_drawdown_openings(records: list[tuple[str, dict[str, Any]]]) -> dict[str, tuple[str, int, Fraction]]:
    """venue -> (event id, event time, drawdown in bps) of the third violating observation in a row."""
    quantity: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    cost: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    mark: dict[tuple[str, str], Fraction] = {}
    realized: dict[str, Fraction] = defaultdict(Fraction)  # minus fees
    peak: dict[str, Fraction] = defaultdict(lambda: START_EQUITY)
    streak: dict[str, int] = defaultdict(int)
    found: dict[str, tuple[str, int, Fraction]] = {}

    def observe(venue: str, event_id: str, t: int) -> None:
        equity = START_EQUITY + realized[venue] + sum(
            q * mark[k] - cost[k] for k, q in quantity.items() if k[0] == venue and q)
        peak[venue] = max(peak[venue], equity)
        drawdown = (peak[venue] - equity) / peak[venue] * 10_000
        streak[venue] = streak[venue] + 1 if drawdown > 100 else 0
        if streak[venue] == 3 and venue not in found:
            found[venue] = (event_id, t, drawdown)

    for name, r in records:
        if name == "PriceTick":
            key = (r["venue"], r["symbol"])
            mark[key] = (fraction(r["bid"]) + fraction(r["ask"])) / 2
            if quantity[key]:
                observe(r["venue"], r["event_id"], r["event_time"])
        elif name == "OrderFilled" and r["account"] == "mm-1":
            key = (r["venue"], r["symbol"])
            price, size = Fraction(r["fill_price"]), Fraction(r["fill_quantity"])
            signed = size if r["side"] == "BUY" else -size
            held = quantity[key]
            if held == 0 or (held > 0) == (signed > 0):
                cost[key] += signed * price
            else:
                closed = min(abs(held), size)
                average = cost[key] / held
                realized[key[0]] += closed * (price - average) * (1 if held > 0 else -1)
                cost[key] -= average * closed * (1 if held > 0 else -1)
                if size > abs(held):
                    cost[key] = (signed + held) * price
            quantity[key] = held + signed
            realized[key[0]] -= Fraction(r["fee"])
            mark.setdefault(key, price)
            observe(r["venue"], r["event_id"], r["event_time"])
    return found


def test_the_drawdown_episode_opens_each_venues_drawdown_breaker_at_the_expected_event(day: Day) -> None:
    expected = expected_drawdown_openings(day.records)
    assert sorted(expected) == sorted(VENUES)
    opened = {}
    for e in day.outputs:
        r = e.record
        if e.schema == "BreakerTransition" and r["breaker"] == "DRAWDOWN" and r["to_state"] == "OPEN":
            opened.setdefault(r["venue"], r)
    for venue, (event_id, t, drawdown) in expected.items():
        r = opened[venue]
        assert (r["caused_by"], r["event_time"], r["from_state"], r["scope"]) == (
            event_id, t, "CLOSED", f"mm-1@{venue}")
        assert r["value"] == round(drawdown, 12)  # Decimal == Fraction compares exactly
        crash_start, crash_end = day.crash
        assert crash_start <= t <= crash_end + 3600 * 10**6  # during (or right after) the crash


def first_opening(outputs: list[Emit], name: str) -> dict[str, Any]:
    return next(e.record for e in outputs if e.schema == "BreakerTransition" and e.record["to_state"] == "OPEN"
                and f"{e.record['breaker']}:{e.record['scope']}" == name)


def test_the_latency_spike_opens_the_latency_breaker_of_its_venue(day: Day) -> None:
    spike = day.scenario["latency_spike"]
    venue, start, end = spike["venue"], timestamp_micros(spike["start"]), timestamp_micros(spike["end"])
    streak, expected = 0, None
    for name, r in day.records:  # observations: successful probes and order acks with a latency
        if r.get("venue") != venue:
            continue
        if name == "VenueHealth" and r["ok"]:
            latency = r["latency_ms"]
        elif name == "OrderAccepted" and r["ack_latency_ms"] is not None:
            latency = r["ack_latency_ms"]
        else:
            continue
        streak = streak + 1 if latency > 500 else 0
        if streak == 3:
            expected = (r["event_id"], r["event_time"], latency)
            break
    assert expected is not None and start <= expected[1] <= end
    opened = first_opening(day.outputs, f"LATENCY:{venue}")
    assert (opened["caused_by"], opened["event_time"], float(opened["value"])) == expected


def test_the_error_burst_opens_the_error_rate_breaker_with_a_two_minute_window(day: Day) -> None:
    """At the generator's ~7 requests a minute, the default 1-minute window never holds the minimum of 10
    samples during the outage; with a 2-minute window the outage opens the breaker at the expected probe."""
    outage = day.scenario["venue_outage"]
    venue, start, end = outage["venue"], timestamp_micros(outage["start"]), timestamp_micros(outage["end"])
    window, samples, streak, expected = 120 * 10**6, [], 0, None
    for name, r in day.records:
        if r.get("venue") != venue:
            continue
        if name == "VenueHealth":
            failed = not r["ok"]
        elif name == "OrderAccepted":
            failed = False
        elif name == "OrderRejected" and r["rejected_by"] == "VENUE":
            failed = True
        else:
            continue
        samples.append((r["event_time"], failed))
        inside = [f for t, f in samples if t >= r["event_time"] - window]
        if len(inside) < 10:
            continue
        streak = streak + 1 if sum(inside) * 100 > 10 * len(inside) else 0
        if streak == 3:
            expected = (r["event_id"], r["event_time"], Fraction(sum(inside) * 100, len(inside)))
            break
    assert expected is not None and start <= expected[1] <= end
    outputs = InProcessRisk(day_config(breakers=BreakerConfig(error_window_s=120))).run(day.records)
    opened = first_opening(outputs, f"ERROR_RATE:{venue}")
    assert (opened["caused_by"], opened["event_time"]) == expected[:2]
    assert opened["value"] == round(expected[2], 12)


def test_orders_after_the_opening_only_pass_when_they_reduce_the_position(day: Day) -> None:
    opened_at = {}
    for e in day.outputs:
        r = e.record
        if e.schema == "BreakerTransition" and r["breaker"] == "DRAWDOWN" and r["to_state"] == "OPEN":
            opened_at.setdefault(r["venue"], r["event_time"])
    # positions from the fills (independently), and the state changes the risk stage published
    position: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    decisions = {e.record["event_id"]: e for e in day.outputs if e.schema in ("OrderApproved", "OrderRejected")}
    halted: dict[str, bool] = defaultdict(bool)
    state_changes = sorted((e.record["event_time"], i, e.record) for i, e in enumerate(day.outputs)
                           if e.schema == "TradingStateChanged")
    reasons: dict[str, int] = defaultdict(int)
    approved_reducing = 0
    changes = iter(state_changes)
    pending = next(changes, None)
    for name, r in day.records:
        while pending is not None and pending[0] <= r["event_time"]:
            halted[pending[2]["venue"]] = pending[2]["to_state"] == "HALTED"
            pending = next(changes, None)
        if name == "OrderFilled":
            size = Fraction(r["fill_quantity"])
            position[(r["venue"], r["symbol"])] += size if r["side"] == "BUY" else -size
        if name != "OrderSubmitted" or r["event_time"] < opened_at[r["venue"]]:
            continue
        decision = decisions[f"risk:{r['event_id']}"]
        held = position[(r["venue"], r["symbol"])]
        reduces = held != 0 and (r["side"] == "BUY") == (held < 0) and Fraction(r["quantity"]) <= abs(held)
        if decision.schema == "OrderApproved":
            assert reduces and not halted[r["venue"]], r
            assert decision.record["trading_state"] == "REDUCING"
            approved_reducing += 1
        else:
            reason = decision.record["reason"]
            reasons[reason] += 1
            if halted[r["venue"]]:
                assert reason == "TRADING_HALTED", r
            elif not reduces:
                assert reason == "TRADING_REDUCING", r
    assert reasons["TRADING_REDUCING"] > 100
    assert approved_reducing >= len(VENUES)  # at least the strategy's reduce-only exits got through


def test_trading_states_go_reducing_on_every_venue(day: Day) -> None:
    first = {}
    for e in day.outputs:
        if e.schema == "TradingStateChanged" and e.record["to_state"] == "REDUCING":
            first.setdefault(e.record["venue"], e.record)
    assert sorted(first) == sorted(VENUES)
    assert all(r["tripped_breakers"] == [f"DRAWDOWN:mm-1@{v}"] for v, r in first.items())


def test_every_output_fits_its_contract_and_ids_are_unique_per_topic(day: Day) -> None:
    encode_all(day.outputs)
    by_topic: dict[str, set[str]] = defaultdict(set)
    for e in day.outputs:
        assert e.record["event_id"] not in by_topic[e.topic], e.record["event_id"]
        by_topic[e.topic].add(e.record["event_id"])
    assert set(by_topic) == {"risk.order-decisions.v1", "risk.breakers.v1", "risk.trading-state.v1",
                             "risk.positions.v1", "risk.alerts.v1"}


def comparable(emits: list[Emit]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(e.topic, e.key, e.schema, e.record) for e in emits]


def test_same_inputs_give_the_same_outputs_and_ids(day: Day) -> None:
    again = InProcessRisk(day_config()).run(day.records)
    assert comparable(again) == comparable(day.outputs)


@pytest.mark.parametrize("cut", [0.37, 0.69])
def test_snapshot_and_restore_mid_stream_gives_identical_outputs(day: Day, cut: float) -> None:
    split = int(len(day.records) * cut)
    first = InProcessRisk(day_config())
    outputs = first.run(day.records[:split])
    state = orjson.loads(orjson.dumps(first.snapshot()))  # JSON-able
    second = InProcessRisk.restore(state, day_config())
    outputs += second.run(day.records[split:])
    assert comparable(outputs) == comparable(day.outputs)


def test_the_stages_through_the_drivers_match_the_in_process_run(day: Day) -> None:
    """Encode the inputs, run the rekey stage's PipelineDriver, encode its outputs, place them on the
    repartition topic's partitions like Kafka, run the risk stage's PipelineDriver: the same outputs,
    byte for byte (here over the crash hours)."""
    crash_start, crash_end = day.crash
    half_hour = 1800 * 10**6
    window = [(n, r) for n, r in day.records if crash_start - half_hour <= r["event_time"] < crash_end + half_hour]
    serde = AvroSerde()
    rekey_spec, risk_spec = risk_pipelines(day_config())
    rekey, risk = PipelineDriver(rekey_spec, serde), PipelineDriver(risk_spec, serde)
    topics = {"PriceTick": "md.ticks.v1", "Heartbeat": "md.ticks.v1", "VenueHealth": "trading.venue-health.v1"}
    offsets: dict[int, int] = defaultdict(int)
    driven: list[bytes] = []
    for n, r in window:
        outs = rekey.process(topics.get(n, "trading.orders.v1"), 0, 0, serde.encode(n, r))
        assert isinstance(outs, list)
        for o in outs:
            p = partition_of(o.key, 3)
            produced = risk.process(o.topic, p, offsets[p], o.value)
            offsets[p] += 1
            assert isinstance(produced, list)
            driven.extend(x.value for x in produced)
    direct = InProcessRisk(day_config()).run(window)
    assert driven == [serde.encode(e.schema, e.record) for e in direct]
    assert len(driven) > 500
