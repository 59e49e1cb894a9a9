"""The shared alert throttle (processors/alerts/throttle.py): window per key, escalation by steps."""

from __future__ import annotations

from processors.alerts import AlertThrottle

W = 300_000_000


def test_within_the_window_only_more_steps_pass_and_carry_the_suppressed_count() -> None:
    th = AlertThrottle(W)
    assert th.admit("k", 0, 1) == 0
    assert th.admit("k", 1, 1) is None  # same steps: throttled
    assert th.admit("k", 2, 2) == 1  # escalation
    assert th.admit("k", 3, 2) is None
    assert th.admit("k", 2 + W, 1) == 1  # the window since the last alert that passed is over


def test_alerts_without_steps_never_escalate_and_keep_the_snapshot_as_it_was() -> None:
    th = AlertThrottle(W)
    assert th.admit("a", 0) == 0
    assert th.admit("a", 1) is None
    assert th.snapshot() == {"last": {"a": 0}, "suppressed": {"a": 1}, "since_prune": 1}
    again = AlertThrottle.restore(th.snapshot(), W)
    assert again.admit("a", W) == 1


def test_steps_survive_a_snapshot_and_go_with_a_pruned_key() -> None:
    th = AlertThrottle(W, prune_every=3)
    th.admit("a", 0, 3)
    again = AlertThrottle.restore(th.snapshot(), W, prune_every=3)
    assert again.admit("a", 1, 3) is None and again.admit("a", 2, 4) == 1
    again.admit("b", 2 + W)  # the third admission prunes "a": a window old, nothing suppressed
    assert "a" not in again.last and "a" not in again.steps


def test_unpruned_throttle_keeps_every_key() -> None:
    th = AlertThrottle(W, prune_every=None)
    for i in range(10):
        th.admit(f"k{i}", i * W)
    assert len(th.last) == 10
