"""The risk pipeline's stages, the rekey routing, config defaults and bad input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from processors import topics
from processors.risk import (
    BreakerConfig,
    InputRouter,
    RiskConfig,
    RiskRekeyProcessor,
    VenueRiskProcessor,
    risk_pipelines,
)
from processors.runtime import PartitionRuntime
from schemas.loader import SCHEMA_DIR, load_directory
from tests.support.risk_events import (
    T0,
    Run,
    S,
    accepted,
    filled,
    heartbeat,
    probe,
    submitted,
    tick,
    wire,
)


def test_two_stages_with_their_topics_and_keys() -> None:
    rekey, risk = risk_pipelines(RiskConfig())
    assert (rekey.name, rekey.inputs, rekey.outputs) == (
        "risk-rekey", ("trading.orders.v1", "trading.venue-health.v1", "md.ticks.v1", "risk.commands.v1"),
        ("risk.inputs.v1",))
    assert (risk.name, risk.inputs, risk.outputs) == ("risk", ("risk.inputs.v1",), (
        "risk.order-decisions.v1", "risk.breakers.v1", "risk.trading-state.v1", "risk.positions.v1",
        "risk.alerts.v1", "mercado.command-results.v1"))
    events = [tick(T0, 1.0, 1.1), probe(T0, 5.0), heartbeat(T0, "kraken:ETH/USDT"), submitted(T0, "c", "BUY", "1", "1")]
    assert [rekey.key_of(n, r) for n, r in events] == ["binance:BTC/USDT", "binance", "kraken:ETH/USDT",
                                                       "binance:BTC/USDT"]
    assert [risk.key_of(n, r) for n, r in events] == ["binance", "binance", "kraken", "binance"]
    assert isinstance(rekey.create("binance:BTC/USDT"), RiskRekeyProcessor)
    assert isinstance(risk.create("binance"), VenueRiskProcessor)


def test_the_rekey_stage_forwards_the_same_records_keyed_by_venue() -> None:
    config = RiskConfig(markets={"binance": ("BTC/USDT",), "kraken": ("*",)}, forward_heartbeats=True)
    proc = RiskRekeyProcessor("k", InputRouter(config))
    forwarded = [
        tick(T0, 1.0, 1.1), tick(T0, 1.0, 1.1, venue="kraken", symbol="DOGE/USDT"), probe(T0, 5.0, venue="okx"),
        submitted(T0, "c", "BUY", "1", "1", venue="okx", symbol="SOL/USDT"), accepted(T0, "c"),
        heartbeat(T0, "binance:BTC/USDT"), heartbeat(T0, "kraken"),
    ]
    for name, record in forwarded:
        [emit] = proc.on_event(name, record)
        assert (emit.topic, emit.schema) == (topics.RISK_INPUTS, name) and emit.record is record
        assert emit.key == (record.get("venue") or record["source"].partition(":")[0])
    dropped = [
        tick(T0, 1.0, 1.1, symbol="ETH/USDT"), tick(T0, 1.0, 1.1, venue="okx"), heartbeat(T0, "okx:BTC/USDT"),
        tick(T0, 1.0, 1.1, backfill_id="bf-1"),
        wire("BackfillComplete", event_id="b", event_time=T0, venue="binance", symbol="BTC/USDT", backfill_id="bf-1",
             start=T0, end=T0, tick_count=0),
    ]
    for name, record in dropped:
        assert proc.on_event(name, record) == []
    assert proc.snapshot() == {} and RiskRekeyProcessor.restore("k", {}, config=config).snapshot() == {}


def test_every_tick_is_forwarded_when_no_markets_are_configured_and_heartbeats_only_when_asked() -> None:
    router = InputRouter(RiskConfig())
    assert router.destination(*tick(T0, 1.0, 1.1, venue="anywhere", symbol="ANY/THING")) == "anywhere"
    assert router.destination(*heartbeat(T0, "anywhere:ANY/THING")) is None
    assert InputRouter(RiskConfig(forward_heartbeats=True)).destination(*heartbeat(T0, "a:B/C")) == "a"


def test_defaults_are_the_seeds_thresholds() -> None:
    b = RiskConfig().breakers
    assert (b.latency_ms, b.spread_bps, b.volatility_pct, b.error_rate_pct, b.drawdown_bps) == (
        500.0, Decimal(20), Decimal(5), Decimal(10), Decimal(100))
    assert (b.consecutive_violations, b.cooldown_s, b.max_cooldown_s, b.volatility_window_s, b.error_window_s) == (
        3, 60.0, 900.0, 300.0, 60.0)
    with pytest.raises(ValueError):
        BreakerConfig(cooldown_s=100, max_cooldown_s=50)
    with pytest.raises(ValueError):
        RiskConfig().breakers.latency_ms = 1  # type: ignore[misc]  # frozen


def test_the_risk_schemas_load() -> None:
    schemas = load_directory(SCHEMA_DIR)
    names = {s.name for s in schemas if s.domain == "risk"}
    assert names == {"BreakerTransition", "TradingState", "TradingStateChanged", "OrderApproved", "PositionUpdate",
                     "OrderCancelRequested"}
    assert all(schemas[n].fullname == f"mercado.risk.{n}" for n in names)


def test_processor_state_is_json_and_restores_through_the_runtime() -> None:
    _, spec = risk_pipelines(RiskConfig(breakers=BreakerConfig(consecutive_violations=1)))
    rt = PartitionRuntime(spec)
    events = [tick(T0, 99.99, 100.01), filled(T0, "f", "BUY", "100", "1", "0.1"), probe(T0 + S, 900.0),
              submitted(T0 + S, "c", "SELL", "0.5", "100")]
    for name, record in events:
        rt.process(name, record)
    state = json.loads(json.dumps(rt.snapshot()))
    again = PartitionRuntime(spec)
    again.restore(state)
    assert json.loads(json.dumps(again.snapshot())) == state
    assert again._due == rt._due == {"binance": T0 + 61 * S}  # the cooldown's timer is back
    later = heartbeat(T0 + 61 * S, "binance:BTC/USDT")
    assert [e.record for e in again.process(*later)] == [e.record for e in rt.process(*later)]
    with pytest.raises(ValueError, match="snapshot version"):
        VenueRiskProcessor.restore("binance", {**state["keys"]["binance"], "version": 0})


def test_bad_numbers_never_crash_the_processor() -> None:
    run = Run(RiskConfig())
    run(tick(T0, float("nan"), 1.0), tick(T0, float("inf"), float("inf")), tick(T0, -1.0, -0.5, last=-1.0),
        tick(T0, 2e15, 3e15), tick(T0, None, None))
    assert run.risk.processor("binance").markets == {}  # no usable price: no mark
    got = run(filled(T0 + 1, "f", "BUY", "100", "1e20"))
    [alert] = run.records("Alert", got)
    assert (alert["kind"], alert["level"]) == ("invalid_event", "ERROR")
    got = run(submitted(T0 + 2, "c", "BUY", "1e30", "100"))
    assert [r["reason"] for r in run.records("OrderRejected", got)] == ["INVALID_QUANTITY"]
