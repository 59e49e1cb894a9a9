"""streams.runtime.heap: the garbage-collector tuning the long-running processes share."""

from __future__ import annotations

import gc

import pytest

from streams.runtime.heap import freeze_heap


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_freeze_heap_freezes_what_is_alive_and_sets_the_thresholds(restore_gc):
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # CPython's defaults (an earlier test in this process may have raised them)
    kept = [{"n": i} for i in range(1000)]  # tracked containers alive at the freeze
    freeze_heap(collect=False, young_threshold=12_345, older=(13, 14))
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (12_345, 13, 14)


def test_a_young_threshold_is_never_lowered_and_older_ones_are_kept_unless_given(restore_gc):
    gc.set_threshold(50_000, 11, 12)
    freeze_heap(young_threshold=100)
    assert gc.get_threshold() == (50_000, 11, 12)
    freeze_heap()
    assert gc.get_threshold() == (50_000, 11, 12)


def test_collect_frees_unreachable_cycles_before_freezing(restore_gc):
    gc.unfreeze()
    gc.collect()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector frees
    del a, b
    freeze_heap(collect=True)
    assert not [o for o in gc.get_objects() if type(o).__name__ == "Node"]
