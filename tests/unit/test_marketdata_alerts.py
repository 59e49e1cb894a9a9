"""Price-move alerts: trailing-window moves, per-symbol throttling, suppressed counts, step escalation."""

from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.marketdata.alerts import MoveAlerts, level_of
from tests.support.marketdata import SECOND, Harness, at

T0 = at("2026-03-02 10:00:00")


def alerts() -> MoveAlerts:
    return MoveAlerts("binance", "BTC/USDT", threshold_pct=0.5, window_s=300, throttle_s=300)


def run(move_alerts: MoveAlerts, rows: list[tuple[int, float]], first_index: int = 0) -> list[dict]:
    out = []
    for i, (seconds, price) in enumerate(rows, start=first_index):
        alert = move_alerts.observe(T0 + seconds * SECOND, price, f"tick-{i}")
        if alert is not None:
            out.append(alert)
    return out


def test_levels_by_steps():
    assert [level_of(n) for n in (1, 2, 3, 4, 7)] == ["WARNING", "ERROR", "ERROR", "CRITICAL", "CRITICAL"]


def test_throttled_alerts_count_suppressed_triggers_and_escalate_by_whole_steps():
    got = run(alerts(), [
        (0, 100.0),
        (10, 100.4),   # +0.4 %: below the threshold
        (20, 100.6),   # +0.6 %: 1 step -> WARNING
        (30, 100.7),   # 1 step, throttled
        (40, 100.8),   # 1 step, throttled
        (50, 101.1),   # +1.1 %: 2 steps -> escalation, ERROR, 2 suppressed
        (60, 101.2),   # 2 steps, throttled
        (70, 102.1),   # +2.1 %: 4 steps -> CRITICAL, 1 suppressed
        (300, 102.0),  # the 100.0 low of t=0 is still in [t-300 s, t]: 4 steps, throttled
        (301, 102.0),  # low now 100.4 (t=10): 3 steps, throttled
        (380, 101.4),  # throttle over (>= 300 s after t=70); window low/high 101.4/102.0: -0.59 % -> WARNING
    ])
    summary = [(a["event_time"], a["level"], a["suppressed_count"], a["details"]["steps"], a["details"]["reason"])
               for a in got]
    assert summary == [
        (T0 + 20 * SECOND, "WARNING", 0, "1", "first"),
        (T0 + 50 * SECOND, "ERROR", 2, "2", "escalation"),
        (T0 + 70 * SECOND, "CRITICAL", 1, "4", "escalation"),
        (T0 + 380 * SECOND, "WARNING", 2, "1", "throttle_expired"),
    ]
    first, last = got[0], got[-1]
    assert first == {
        "event_id": "alert:move:binance:BTC/USDT:tick-2",
        "event_time": T0 + 20 * SECOND,
        "alert_key": "move:binance:BTC/USDT",
        "source": "marketdata",
        "kind": "price_move",
        "level": "WARNING",
        "message": "BTC/USDT on binance up 0.60% within 300s (100.0 -> 100.6)",
        "value": (100.6 - 100.0) / 100.0 * 100.0,
        "threshold": 0.5,
        "suppressed_count": 0,
        "caused_by": "tick-2",
        "details": {
            "venue": "binance", "symbol": "BTC/USDT", "direction": "up", "steps": "1", "price": "100.6",
            "reference_price": "100.0", "reference_time_us": str(T0), "window_s": "300", "reason": "first",
        },
    }
    assert last["value"] == -((102.0 - 101.4) / 102.0 * 100.0)
    assert last["details"]["direction"] == "down"
    assert last["details"]["reference_time_us"] == str(T0 + 301 * SECOND)  # the latest tick at the high


def test_exactly_the_threshold_does_not_alert_and_the_window_edge_is_inclusive():
    assert run(alerts(), [(0, 100.0), (1, 100.5)]) == []  # +0.5 % is not more than 0.5 %
    assert len(run(alerts(), [(0, 100.0), (300, 100.6)])) == 1  # t - 300 s is inside the window
    assert run(alerts(), [(0, 100.0), (301, 100.6)]) == []


def test_out_of_order_ticks_are_skipped_by_alerts():
    move_alerts = alerts()
    assert run(move_alerts, [(10, 100.0), (5, 90.0), (11, 100.2)]) == []
    assert [list(entry) for entry in move_alerts.lows] == [[T0 + 10 * SECOND, 100.0], [T0 + 11 * SECOND, 100.2]]


def test_alert_state_survives_snapshot_and_restore():
    rows = [(0, 100.0), (20, 100.6), (30, 100.7), (40, 100.8), (50, 101.1), (60, 101.2), (70, 102.1)]
    straight = run(alerts(), rows)
    first = alerts()
    head = run(first, rows[:4])
    second = alerts()
    second.restore(json.loads(json.dumps(first.snapshot())))
    assert head + run(second, rows[4:], first_index=4) == straight


def test_processor_emits_alerts_keyed_like_their_input_for_in_session_ticks_only():
    h = Harness("binance:BTC/USDT")
    h.tick(T0, 100.0)
    out = h.tick(T0 + SECOND, 101.0)
    assert [(e.topic, e.key, e.schema) for e in out] == [("md.alerts.v1", "binance:BTC/USDT", "Alert")]
    assert out[0].record["alert_key"] == "move:binance:BTC/USDT"
    fx = Harness()
    fx.tick(at("2026-03-02 12:00:00"), 4000.0)  # 07:00 Bogota: off session
    fx.tick(at("2026-03-02 12:00:01"), 4100.0)
    assert fx.records("Alert") == []


def _random_walk(seed: int, n: int, spacing_us: int) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    price, rows = 100.0, []
    for i in range(n):
        price *= 1 + rng.uniform(-3e-4, 3e-4)
        rows.append((T0 + i * spacing_us, price))
    return rows


@given(st.integers(0, 10**6), st.integers(2, 400), st.sampled_from([1_000, 250_000, 3_000_000, 30_000_000]),
       st.sampled_from([5, 300, 5_000]))
@settings(max_examples=150, deadline=None)
def test_packed_window_snapshot_restores_the_same_deques_and_alerts(
    seed: int, split: int, spacing_us: int, window_s: int
) -> None:
    """The window's deques are snapshotted packed (ages and IEEE doubles, base64); through JSON and back,
    the restored deques are the same entries, exactly, and the alerts after the restore are those of an
    uninterrupted run. A window over 4,294 s needs 64-bit ages."""
    rows = _random_walk(seed, 400, spacing_us)

    def fresh() -> MoveAlerts:
        return MoveAlerts("binance", "BTC/USDT", threshold_pct=0.01, window_s=window_s, throttle_s=2)

    def feed(move_alerts: MoveAlerts, part: list[tuple[int, float]], first: int) -> list[dict]:
        alerts_out = (move_alerts.observe(t, p, f"tick-{i}") for i, (t, p) in enumerate(part, start=first))
        return [a for a in alerts_out if a is not None]

    straight = feed(fresh(), rows, 0)
    first = fresh()
    head = feed(first, rows[:split], 0)
    state = json.loads(json.dumps(first.snapshot()))
    oldest_age = first.last_t - min(first.lows[0][0], first.highs[0][0])
    assert {state["lows"]["age"], state["highs"]["age"]} <= ({"u4", "u8"} if oldest_age > 0xFFFF_FFFF else {"u4"})
    second = fresh()
    second.restore(state)
    assert list(second.lows) == list(first.lows) and list(second.highs) == list(first.highs)
    assert all(type(t) is int and type(p) is float for t, p in second.lows)
    assert head + feed(second, rows[split:], split) == straight
    assert straight or spacing_us > window_s * SECOND  # it alerts unless one tick is all a window holds


def test_window_snapshot_is_compact_and_earlier_list_snapshots_still_restore():
    move_alerts = alerts()
    for i, (t, p) in enumerate(_random_walk(7, 5_000, 1_000)):
        move_alerts.observe(t, p, f"tick-{i}")
    entries = len(move_alerts.lows) + len(move_alerts.highs)
    assert entries > 20
    as_lists = json.dumps({"lows": [list(e) for e in move_alerts.lows], "highs": [list(e) for e in move_alerts.highs]})
    packed = json.dumps({"lows": move_alerts.snapshot()["lows"], "highs": move_alerts.snapshot()["highs"]})
    assert len(packed) < len(as_lists) / 2
    earlier = {**move_alerts.snapshot(), "lows": [list(e) for e in move_alerts.lows],
               "highs": [list(e) for e in move_alerts.highs]}  # what snapshots held before the packing
    restored = alerts()
    restored.restore(json.loads(json.dumps(earlier)))
    assert list(restored.lows) == list(move_alerts.lows) and list(restored.highs) == list(move_alerts.highs)


def test_a_corrupt_window_snapshot_is_refused():
    move_alerts = alerts()
    run(move_alerts, [(0, 100.0), (1, 100.2), (2, 100.1)])
    state = move_alerts.snapshot()
    prices = base64.b64decode(state["lows"]["prices"])
    state["lows"] = {**state["lows"], "prices": base64.b64encode(prices[:-8]).decode()}  # one price short
    with pytest.raises(ValueError, match="ages but"):
        alerts().restore(state)
    state = move_alerts.snapshot()
    state["highs"] = {**state["highs"], "age": "i2"}
    with pytest.raises(ValueError, match="unknown age type 'i2'"):
        alerts().restore(state)


def test_a_window_of_over_71_minutes_snapshots_64_bit_ages():
    move_alerts = MoveAlerts("binance", "BTC/USDT", threshold_pct=50.0, window_s=7_200, throttle_s=300)
    run(move_alerts, [(minute * 60, 100.0 + minute) for minute in range(0, 121, 10)])  # rising: all stay lows
    state = json.loads(json.dumps(move_alerts.snapshot()))
    assert state["lows"]["age"] == "u8" and state["highs"]["age"] == "u4"  # 7,200 s of age > 2**32 µs
    restored = MoveAlerts("binance", "BTC/USDT", threshold_pct=50.0, window_s=7_200, throttle_s=300)
    restored.restore(state)
    assert list(restored.lows) == [(T0 + minute * 60 * SECOND, 100.0 + minute) for minute in range(0, 121, 10)]
