"""Determinism: snapshot/restore mid-stream continues exactly; runtime wiring; arrival order within grace
does not change bars (hypothesis)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.core import Emit
from processors.marketdata import MarketDataConfig, MarketDataProcessor, marketdata_key, marketdata_pipeline
from processors.runtime import PartitionRuntime
from tests.support.marketdata import (
    MINUTE,
    SECOND,
    at,
    backfill_complete,
    bogota,
    check_encodes,
    heartbeat,
    tick,
)

Event = tuple[str, dict[str, Any]]


def fx_day_events(seed: int) -> list[Event]:
    """A USD/COP morning with everything in it: off-session and out-of-order ticks, late ticks, silences
    with heartbeats, ingest stamps, and a backfill of a past range."""
    rng = random.Random(seed)
    events: list[Event] = []
    seq = 0
    t = bogota("2026-03-02 07:55:00")
    end = bogota("2026-03-02 13:05:00")
    price = 4000.0
    backfill_done = False
    while t < end:
        roll = rng.random()
        if roll < 0.01:  # a silence with heartbeats
            silence_end = t + rng.randrange(MINUTE, 8 * MINUTE)
            while t < silence_end:
                events.append(("Heartbeat", heartbeat(t)))
                t += 5 * SECOND
            continue
        seq += 1
        price *= 1.0 + rng.gauss(0.0, 0.0008)
        when = t
        if roll < 0.06:
            when = t - rng.randrange(0, 2 * SECOND)  # out of order, within grace
        elif roll < 0.08:
            when = t - rng.randrange(3 * SECOND, 40 * SECOND)  # late
        events.append(("PriceTick", tick(when, round(price, 2), seq, volume=rng.choice([0.0, 1e5, 2.5e5]),
                                         produced_us=when + rng.randrange(1_000, 200_000))))
        if not backfill_done and t > bogota("2026-03-02 10:00:00"):
            backfill_done = True
            for i in range(40):
                bt = bogota("2026-03-02 09:00:00") + i * 15 * SECOND
                events.append(("PriceTick", tick(bt, 3990.0 + i, 10_000 + i, volume=1.0, backfill_id="bf-1")))
            events.append(("BackfillComplete", backfill_complete("bf-1", bogota("2026-03-02 09:00:00"),
                                                                 bogota("2026-03-02 09:10:00"), 40)))
        t += rng.randrange(SECOND // 2, 8 * SECOND)
    events.append(("Heartbeat", heartbeat(end)))
    return events


def run(processor: MarketDataProcessor, events: list[Event]) -> list[Emit]:
    out: list[Emit] = []
    for schema, record in events:
        out.extend(processor.on_event(schema, record))
    return out


def test_snapshot_restore_at_any_point_continues_exactly_as_uninterrupted():
    events = fx_day_events(seed=3)
    straight = run(MarketDataProcessor("setfx:USD/COP"), events)
    check_encodes(straight)
    kinds = {e.schema for e in straight}
    assert kinds == {"Bar", "IndicatorSet", "Gap", "DataQuality", "LateTick", "Alert"}
    assert any(e.schema == "Bar" and e.record["revision"] == 1 for e in straight)
    assert run(MarketDataProcessor("setfx:USD/COP"), events) == straight  # deterministic
    for cut in range(1, len(events), max(1, len(events) // 45)):
        first = MarketDataProcessor("setfx:USD/COP")
        head = run(first, events[:cut])
        state = json.loads(json.dumps(first.snapshot()))
        second = MarketDataProcessor.restore("setfx:USD/COP", state, config=MarketDataConfig())
        assert head + run(second, events[cut:]) == straight, f"cut at event {cut}"


def test_pipeline_runtime_routes_heartbeats_by_source_and_restores_a_partition():
    fx = fx_day_events(seed=8)
    rng = random.Random(8)
    crypto: list[Event] = []
    t = bogota("2026-03-02 07:55:00")
    for seq in range(1, 4000):
        t += rng.randrange(SECOND, 6 * SECOND)
        crypto.append(("PriceTick", tick(t, 60_000.0 + rng.uniform(-50, 50), seq, venue="binance",
                                         symbol="BTC/USDT", volume=0.01)))
        if seq % 50 == 0:
            crypto.append(("Heartbeat", heartbeat(t + 1, "binance:BTC/USDT")))
    merged = sorted(fx + crypto, key=lambda e: e[1]["event_time"])  # one partition, both keys
    spec = marketdata_pipeline(MarketDataConfig())
    assert spec.inputs == ("md.ticks.v1",)
    assert set(spec.outputs) == {"md.bars.v1", "md.gaps.v1", "md.indicators.v1", "md.quality.v1",
                                 "md.late-ticks.v1", "md.alerts.v1"}
    assert marketdata_key("Heartbeat", heartbeat(0, "binance:BTC/USDT")) == "binance:BTC/USDT"

    def replay(events: list[Event], runtime: PartitionRuntime) -> list[Emit]:
        out: list[Emit] = []
        for schema, record in events:
            out.extend(runtime.process(schema, record))
        return out

    straight = replay(merged, PartitionRuntime(spec))
    assert {e.key for e in straight if e.schema == "Bar"} == {"setfx:USD/COP", "binance:BTC/USDT"}
    assert set(spec.outputs) >= {e.topic for e in straight}
    half = len(merged) // 2
    first = PartitionRuntime(spec)
    head = replay(merged[:half], first)
    second = PartitionRuntime(spec)
    second.restore(json.loads(json.dumps(first.snapshot())))
    assert head + replay(merged[half:], second) == straight


GRACE_US = MarketDataConfig().grace_us


@st.composite
def ticks_and_arrival(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], list[int]]:
    key = draw(st.sampled_from(["binance:BTC/USDT", "setfx:USD/COP"]))
    venue, symbol = key.split(":")
    t = at("2026-03-02 23:57:00") if symbol == "BTC/USDT" else bogota("2026-03-02 07:58:00")
    n = draw(st.integers(1, 60))
    prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
    volumes = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)
    ticks = []
    for seq in range(1, n + 1):
        t += draw(st.one_of(st.integers(0, 3 * SECOND), st.integers(0, 45 * SECOND)))  # often reordered
        ticks.append(tick(t, draw(prices), seq, venue=venue, symbol=symbol, volume=draw(volumes)))
    delays = draw(st.lists(st.integers(0, GRACE_US - 1), min_size=n, max_size=n))
    # arrival by (event time + a delay shorter than the grace): every tick arrives before the key's
    # watermark gets more than the grace period past it
    arrival = sorted(range(n), key=lambda i: (ticks[i]["event_time"] + delays[i], i))
    return key, ticks, arrival


def bars_and_indicators(key: str, ordered: list[dict[str, Any]], flush_at: int) -> tuple[list, list, list]:
    processor = MarketDataProcessor(key)
    out = []
    for record in ordered:
        out.extend(processor.on_event("PriceTick", record))
    out.extend(processor.on_event("Heartbeat", heartbeat(flush_at, key)))
    assert not [e for e in out if e.schema == "LateTick"]
    bars = [e.record for e in out if e.schema == "Bar"]
    indicators = [e.record for e in out if e.schema == "IndicatorSet"]
    gaps = [(g.record["interval_s"], g.record["start"], g.record["end"], g.record["missing_bars"])
            for g in out if g.schema == "Gap"]
    return bars, indicators, gaps


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ticks_and_arrival())
def test_any_arrival_order_within_grace_builds_identical_bars(case):
    key, ticks, arrival = case
    flush_at = ticks[-1]["event_time"] + 10 * MINUTE
    in_order = bars_and_indicators(key, ticks, flush_at)
    shuffled = bars_and_indicators(key, [ticks[i] for i in arrival], flush_at)
    assert shuffled == in_order


def test_snapshots_stay_small_however_many_ticks_and_restore_exact_sums():
    key = "binance:BTC/USDT"
    start = at("2026-03-02 10:00:00")
    events: list[Event] = [
        ("PriceTick", tick(start + i * 5_000, 60_000.0 + (i % 7) * 0.1, i + 1, venue="binance", symbol="BTC/USDT",
                           volume=0.1 * (1 + i % 3), produced_us=start + i * 5_000 + 1_000 + i % 977))
        for i in range(10_000)  # 50 s of ticks, all in one open minute
    ]
    events.append(("Heartbeat", heartbeat(start + 10 * MINUTE, key)))
    straight = run(MarketDataProcessor(key), events)
    first = MarketDataProcessor(key)
    run(first, events[:-1])
    snapshot = json.dumps(first.snapshot())
    assert len(snapshot) < 20_000  # open-bar sums and latency histograms, not 10,000 samples
    second = MarketDataProcessor.restore(key, json.loads(snapshot))
    assert run(second, events[-1:]) == straight
    bar = next(e.record for e in straight if e.schema == "Bar" and e.record["interval_s"] == 60)
    assert bar["volume"] == math.fsum(0.1 * (1 + i % 3) for i in range(10_000))
    assert bar["tick_count"] == 10_000


def test_a_venue_wide_heartbeat_is_counted_and_never_breaks_the_partition():
    spec = marketdata_pipeline()
    runtime = PartitionRuntime(spec)
    assert runtime.process("Heartbeat", heartbeat(at("2026-03-02 10:00:00"), "binance")) == []
    assert runtime.processors["binance"].snapshot() == {"ignored_events": 1}
    runtime.restore(json.loads(json.dumps(runtime.snapshot())))
    assert runtime.processors["binance"].snapshot() == {"ignored_events": 1}
