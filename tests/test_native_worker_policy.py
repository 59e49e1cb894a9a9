"""The native worker's commit policy, on its own clock (no broker: the clients are made in ``start()``)."""

from __future__ import annotations

import pytest

from streams.config import Settings
from streams.native_worker import NativeWorker


def _worker(**settings: float) -> NativeWorker:
    return NativeWorker(Settings(**settings), "marketdata")


def test_outputs_at_the_live_edge_commit_one_linger_after_the_first_output() -> None:
    w = _worker(worker_commit_interval_s=0.1, worker_live_commit_interval_s=0.005)
    w.last_commit = 100.0
    assert w.commit_due_at() == pytest.approx(100.1)  # only state and offsets: the commit interval
    w.caught_up, w.outputs_since = True, 100.02
    # a burst of outputs (every symbol's bar closes at the same boundary) shares the commit that the
    # first one opened: later outputs do not move it
    assert w.commit_due_at() == pytest.approx(100.025)
    w.outputs_since = 100.098  # never later than the commit interval
    assert w.commit_due_at() == pytest.approx(100.1)


def test_a_backlog_commits_at_the_interval_even_with_outputs() -> None:
    w = _worker(worker_commit_interval_s=0.1, worker_live_commit_interval_s=0.005)
    w.last_commit, w.outputs_since, w.caught_up = 100.0, 100.02, False
    assert w.commit_due_at() == pytest.approx(100.1)


def test_the_live_linger_is_capped_by_the_commit_interval() -> None:
    w = _worker(worker_commit_interval_s=0.01, worker_live_commit_interval_s=0.05)
    assert w.live_commit_interval_s == 0.01


def test_the_default_live_linger_covers_one_feed_linger() -> None:
    # the closing ticks of a boundary's bars arrive within one producer linger of each other (the
    # defaults as declared, not as this machine's MERCADO_* environment may override them)
    default = {name: field.default for name, field in Settings.model_fields.items()}
    assert default["producer_linger_ms"] / 1000 <= default["worker_live_commit_interval_s"]
    assert default["worker_live_commit_interval_s"] < default["worker_commit_interval_s"]
