"""The live edge of a stage merging a repartition topic's writers (streams/runtime/ordered.py): a caught-up
writer is passed only when its source still ends where it stopped and the held records waited ``idle_s``."""

from __future__ import annotations

import orjson

from processors.ordering import position
from streams.runtime.ordered import LiveOrderedMerge, bound_header, position_header, progress_header

SOURCES = [("in", 0), ("in", 1)]


def _record(merge: LiveOrderedMerge, offset: int, pos: tuple) -> list:
    return merge.arrived(0, offset, b"k", b"v%d" % offset, pos[0], [position_header(pos)])


def _progress(merge: LiveOrderedMerge, offset: int, source: int, watermark: int, next_offset: int,
              caught_up: bool) -> list:
    return merge.arrived(0, offset, None, None, 0,
                         [progress_header("in", source, watermark, next_offset, caught_up)])


def _merge(idle_s: float) -> LiveOrderedMerge:
    merge = LiveOrderedMerge({}, SOURCES, idle_s=idle_s)
    merge.assign({0})
    return merge


def _values(released: list) -> list[bytes]:
    return [item.value for _, item in released]


def test_a_caught_up_writer_is_passed_after_idle_s_when_its_source_still_ends_there() -> None:
    merge = _merge(0.5)
    checked = []

    def at_end(topic: str, partition: int, next_offset: int) -> bool:
        checked.append((topic, partition, next_offset))
        return True

    assert _progress(merge, 0, 0, 5, 3, caught_up=True) == []
    assert _record(merge, 1, position(9, "in", 1, 0)) == []
    assert merge.release(10.0, at_end) == []  # waits for source 0 ...
    assert merge.release(10.4, at_end) == []
    assert _values(merge.release(10.5, at_end)) == [b"v1"]  # ... idle_s, then passes it
    assert checked == [("in", 0, 3)]
    assert merge.blocked_since is None and merge.passed == 1


def test_a_caught_up_writer_whose_source_has_more_is_never_passed() -> None:
    merge = _merge(0.5)
    _progress(merge, 0, 0, 5, 3, caught_up=True)
    _record(merge, 1, position(9, "in", 1, 0))
    assert merge.release(10.0, lambda *at: False) == []
    assert merge.release(99.0, lambda *at: False) == []  # a slow, restoring or dead writer: data waits
    _progress(merge, 2, 0, 10, 5, caught_up=False)  # it moved past 9
    assert _values(merge.release(99.1, lambda *at: False)) == [b"v1"]


def test_strict_never_passes_and_what_the_log_orders_goes_at_once() -> None:
    merge = _merge(-1)
    _progress(merge, 0, 0, 5, 3, caught_up=True)
    _record(merge, 1, position(4, "in", 1, 0))
    _record(merge, 2, position(9, "in", 1, 1))
    assert _values(merge.release(0.0, lambda *at: True)) == [b"v1"]  # below source 0's bound: at once
    assert merge.release(1e9, lambda *at: True) == []
    assert merge.frontier(0, lambda *at: True)[1] is False


def test_without_a_look_up_caught_up_writers_are_passed_at_once() -> None:
    merge = _merge(0.5)
    _progress(merge, 0, 0, 5, 3, caught_up=True)
    _record(merge, 1, position(9, "in", 1, 0))
    assert _values(merge.release()) == [b"v1"]


def test_where_a_caught_up_writer_stopped_is_state_and_bounds_carry_it() -> None:
    table: dict[bytes, bytes] = {}
    merge = LiveOrderedMerge(table, SOURCES)
    merge.assign({0})
    _progress(merge, 0, 0, 5, 3, caught_up=True)
    merge.arrived(0, 1, None, None, 0,
                  [bound_header("by-block", 2, position(4, "in", 1, 0), True, (("in", 0, 3), ("in", 1, 8)))])
    merge.save()
    restored = LiveOrderedMerge(table, SOURCES)
    restored.assign({0})
    assert restored.caught_at == {(0, "in", 0): (("in", 0, 3),), (0, "by-block", 2): (("in", 0, 3), ("in", 1, 8))}
    # a marker of an older worker (four fields) or one not caught up: nothing to check, not passable
    old = orjson.dumps(["by-block", 2, list(position(6, "in", 1, 0)), True])
    restored.arrived(0, 2, None, None, 0, [("mercado-bound", old)])
    assert (0, "by-block", 2) not in restored.caught_at


def test_a_later_stages_frontier_names_where_its_sources_ended_and_its_reader_checks_them_all() -> None:
    merge = _merge(0.5)
    _progress(merge, 0, 0, 5, 3, caught_up=True)
    assert merge.frontier(0, lambda *at: True)[1:] == (False, None)  # source 1 announced nothing yet
    _progress(merge, 1, 1, 7, 4, caught_up=True)
    bound, caught, at = merge.frontier(0, lambda *at: True)
    assert caught and at == (("in", 0, 3), ("in", 1, 4))
    assert merge.frontier(0, lambda t, p, o: p == 0)[1:] == (False, None)  # source 1 got more
    reader = LiveOrderedMerge({}, [("by-block", 0)], idle_s=0)
    reader.assign({0})
    reader.arrived(0, 0, None, None, 0, [bound_header("by-block", 0, bound, caught, at)])
    reader.arrived(0, 1, b"k", b"late", 9, [position_header((*position(9, "in", 1, 5), 0)),
                                            ("mercado-writer", orjson.dumps(["by-block", 1]))])
    looked = []
    assert reader.release(1.0, lambda t, p, o: looked.append((t, p, o)) or p == 0) == []  # source 1 moved on
    assert looked == [("in", 0, 3), ("in", 1, 4)]
    assert _values(reader.release(2.0, lambda *at: True)) == [b"late"]
