"""The position order of repartitioned records (processors/ordering.py): it is the replay's merge order, and
:class:`OrderedMerge` releases it whatever the split of sources among writers and the arrival timing."""

from __future__ import annotations

import heapq
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.ordering import OrderedMerge, SourceWatermarks, position, progress_bound

TOPICS = ("md.ticks.v1", "trading.orders.v1", "trading.venue-health.v1")

# A log: per source (topic, partition), the merge timestamps of its messages in offset order; timestamps
# mostly grow but may go back (a late tick) or be -1 (a message the runtime refuses).
timestamps = st.lists(st.one_of(st.integers(0, 40), st.just(-1)), max_size=12)
logs = st.dictionaries(st.tuples(st.sampled_from(TOPICS), st.integers(0, 3)), timestamps, min_size=1, max_size=8)


def replay_merge(log: dict[tuple[str, int], list[int]]) -> list[tuple[str, int, int]]:
    """The replay's merge (streams/engines/replay.py KafkaRangeReader): the head with the smallest
    (merge timestamp, partition, topic), every partition holding its head."""
    heap = [(ts[0], p, t, 0) for (t, p), ts in log.items() if ts]
    heapq.heapify(heap)
    out = []
    while heap:
        _, p, t, o = heapq.heappop(heap)
        out.append((t, p, o))
        if o + 1 < len(log[(t, p)]):
            heapq.heappush(heap, (log[(t, p)][o + 1], p, t, o + 1))
    return out


def positions(log: dict[tuple[str, int], list[int]]) -> dict[tuple[str, int, int], tuple]:
    marks = SourceWatermarks()
    return {(t, p, o): position(marks.advance(t, p, ts), t, p, o)
            for (t, p), tss in sorted(log.items()) for o, ts in enumerate(tss)}


@settings(max_examples=300, deadline=None)
@given(logs)
def test_the_replays_merge_is_the_position_order(log: dict[tuple[str, int], list[int]]) -> None:
    pos = positions(log)
    merged = replay_merge(log)
    assert merged == sorted(merged, key=pos.__getitem__)


@settings(max_examples=200, deadline=None)
@given(logs, st.integers(1, 3), st.integers(1, 3), st.randoms(use_true_random=False))
def test_the_merge_releases_position_order_whoever_writes_and_whenever(
    log: dict[tuple[str, int], list[int]], destinations: int, writers: int, rnd: random.Random
) -> None:
    """Sources split among writers (each processes its sources in offset order, at its own pace, and
    sometimes writes progress markers); records go to destination partitions by a function of the message;
    one reader holds every destination. Whatever the interleaving, each destination's records come out in
    position order, all of them, once each (re-deliveries dropped)."""
    pos = positions(log)
    sources = sorted(log)
    owner = {s: rnd.randrange(writers) for s in sources}
    cursor = dict.fromkeys(sources, 0)
    marks = SourceWatermarks()
    merge = OrderedMerge()
    merge.open((q, t, p) for q in range(destinations) for t, p in sources)
    released: list[tuple[int, tuple]] = []
    delivered: list[tuple] = []

    def write_marker(source: tuple[str, int], caught_up: bool) -> None:
        t, p = source
        bound = progress_bound(marks.of.get(source), t, p, cursor[source])
        for q in range(destinations):
            merge.progress((q, t, p), bound, caught_up)

    while any(cursor[s] < len(log[s]) for s in sources):
        writer = rnd.randrange(writers)
        mine = [s for s in sources if owner[s] == writer and cursor[s] < len(log[s])]
        if not mine:
            continue
        source = rnd.choice(mine)
        t, p = source
        o = cursor[source]
        marks.advance(t, p, log[source][o])
        q = (o * 7 + p) % destinations
        merge.add((q, t, p), pos[(t, p, o)], pos[(t, p, o)])
        if rnd.random() < 0.2:  # re-delivered: dropped
            assert not merge.add((q, t, p), pos[(t, p, o)], pos[(t, p, o)])
        delivered.append(pos[(t, p, o)])
        cursor[source] += 1
        if rnd.random() < 0.3:
            write_marker(source, caught_up=cursor[source] == len(log[source]))
        released.extend((s[0], item) for s, item in merge.release())
    for source in sources:
        write_marker(source, caught_up=True)
    released.extend((s[0], item) for s, item in merge.release())
    assert merge.held == 0
    assert sorted(item for _, item in released) == sorted(delivered)
    for q in range(destinations):
        mine = [item for d, item in released if d == q]
        assert mine == sorted(mine)
    # one reader holding every destination releases them all in one order: the global position order
    assert [item for _, item in released] == sorted(delivered)


def test_a_source_that_never_wrote_holds_the_others_until_it_is_caught_up() -> None:
    merge = OrderedMerge()
    merge.open([(0, "a", 0), (0, "b", 0)])
    merge.add((0, "a", 0), position(5, "a", 0, 0), "first")
    assert merge.release() == []  # b may still write something older
    merge.progress((0, "b", 0), progress_bound(3, "b", 0, 10), caught_up=False)
    assert merge.release() == []  # b is at 3: it may still write 3..5
    merge.progress((0, "b", 0), progress_bound(6, "b", 0, 12), caught_up=False)
    assert merge.release() == [((0, "a", 0), "first")]
    merge.add((0, "a", 0), position(9, "a", 0, 1), "second")
    assert merge.release() == []
    merge.progress((0, "b", 0), progress_bound(6, "b", 0, 12), caught_up=True)
    assert merge.release() == [((0, "a", 0), "second")]


@settings(max_examples=150, deadline=None)
@given(logs, st.integers(1, 3), st.integers(1, 3), st.randoms(use_true_random=False))
def test_a_later_stage_merges_what_ordered_tasks_wrote_in_the_replays_depth_first_order(
    log: dict[tuple[str, int], list[int]], tasks: int, destinations: int, rnd: random.Random
) -> None:
    """Stage 2 has ``tasks`` tasks, each merging its own records (OrderedMerge) and writing, for each record
    it releases, one or two records to stage 3 at the record's position extended by their number; it
    announces its frontier now and then. Stage 3 merges per (destination, task): whatever the tasks' pace,
    it releases every record once, in the order of the extended positions — the replay's depth-first run."""
    pos = positions(log)
    sources = sorted(log)
    stage2 = [OrderedMerge() for _ in range(tasks)]
    for q, merge in enumerate(stage2):
        merge.open((q, t, p) for t, p in sources)
    for (t, p, o), position_ in sorted(pos.items(), key=lambda kv: kv[1]):
        q = (o * 5 + p) % tasks
        stage2[q].add((q, t, p), position_, position_)
    for q, merge in enumerate(stage2):
        for t, p in sources:
            merge.progress((q, t, p), progress_bound(None, t, p, 0), caught_up=True)
    stage3 = OrderedMerge()
    stage3.open((m, "by-block", q) for m in range(destinations) for q in range(tasks))
    written: list[tuple] = []
    released: list[tuple[int, tuple]] = []
    pending = list(range(tasks))
    ready: list[list[tuple]] = [[] for _ in range(tasks)]  # released by a task, not yet processed
    while pending:
        q = rnd.choice(pending)
        ready[q].extend(p2 for _, p2 in stage2[q].release())
        if ready[q] and rnd.random() < 0.7:  # the task processes one record: its outputs go to stage 3
            p2 = ready[q].pop(0)
            for k in range(1 + p2[3] % 2):
                extended = (*p2, k)
                stage3.add(((p2[3] + k) % destinations, "by-block", q), extended, extended)
                written.append(extended)
        elif not stage2[q].held and not ready[q]:
            pending.remove(q)
        if not ready[q] and (rnd.random() < 0.5 or q not in pending):  # its frontier, once its outputs are out
            bound, caught = stage2[q].frontier(q)
            for m in range(destinations):
                stage3.progress((m, "by-block", q), bound, caught)
        released.extend((s[0], item) for s, item in stage3.release())
    assert stage3.held == 0
    assert len(written) >= len(pos)
    assert [item for _, item in released] == sorted(written)  # every one, once, in the global order


@settings(max_examples=200, deadline=None)
@given(logs, st.integers(1, 3), st.integers(1, 3), st.randoms(use_true_random=False))
def test_at_the_live_edge_only_what_every_stream_passed_goes_whatever_the_arrival(
    log: dict[tuple[str, int], list[int]], destinations: int, writers: int, rnd: random.Random
) -> None:
    """Each source's messages reach its partition over time, and a writer that has processed everything that
    arrived announces "caught up" — then more arrives (the live edge). Released with ``passable`` false
    (what the log orders), the records come out in position order whatever the arrival, and all of them
    once every source's end is announced. (Passing a momentarily caught-up source would not: see
    test_passing_a_momentarily_caught_up_source_breaks_the_order.)"""
    pos = positions(log)
    sources = sorted(log)
    owner = {s: rnd.randrange(writers) for s in sources}
    arrived = dict.fromkeys(sources, 0)
    cursor = dict.fromkeys(sources, 0)
    marks = SourceWatermarks()
    merge = OrderedMerge()
    merge.open((q, t, p) for q in range(destinations) for t, p in sources)
    released: list[tuple] = []
    delivered: list[tuple] = []

    def write_marker(source: tuple[str, int]) -> None:
        t, p = source
        bound = progress_bound(marks.of.get(source), t, p, cursor[source])
        for q in range(destinations):
            merge.progress((q, t, p), bound, caught_up=cursor[source] == arrived[source])

    while any(cursor[s] < len(log[s]) for s in sources):
        source = rnd.choice(sources)
        if arrived[source] < len(log[source]) and rnd.random() < 0.5:
            arrived[source] += rnd.randint(1, len(log[source]) - arrived[source])
        mine = [s for s in sources if owner[s] == rnd.randrange(writers) and cursor[s] < arrived[s]]
        if mine:
            source = rnd.choice(mine)
            t, p = source
            o = cursor[source]
            marks.advance(t, p, log[source][o])
            merge.add(((o * 7 + p) % destinations, t, p), pos[(t, p, o)], pos[(t, p, o)])
            delivered.append(pos[(t, p, o)])
            cursor[source] += 1
        write_marker(rnd.choice(sources))
        released.extend(item for _, item in merge.release(lambda s: False))
        assert released == sorted(released)
    released.extend(item for _, item in merge.release(lambda s: False))
    for source in sources:  # the end of the input (what a replay knows): every stream passed
        write_marker(source)
    released.extend(item for _, item in merge.release())
    assert released == sorted(delivered)


def test_passing_a_momentarily_caught_up_source_breaks_the_order() -> None:
    """Why the live merge checks a caught-up writer against its source's end and waits before passing it."""
    merge = OrderedMerge()
    merge.open([(0, "a", 0), (0, "b", 0)])
    merge.progress((0, "a", 0), progress_bound(5, "a", 0, 3), caught_up=True)  # a: all it had, so far
    merge.add((0, "b", 0), position(9, "b", 0, 0), "b@9")
    assert merge.release(lambda s: False) == []  # what the log orders: a may still write 5..9
    assert merge.release() == [((0, "b", 0), "b@9")]  # passed: then a's source receives ...
    merge.add((0, "a", 0), position(7, "a", 0, 3), "a@7")  # ... a record the replay puts before b@9
    assert merge.release() == [((0, "a", 0), "a@7")]


def test_a_frontier_is_caught_up_only_with_every_stream_passable() -> None:
    merge = OrderedMerge()
    merge.open([(0, "a", 0), (0, "b", 0)])
    merge.progress((0, "a", 0), progress_bound(5, "a", 0, 3), caught_up=True)
    merge.progress((0, "b", 0), progress_bound(6, "b", 0, 1), caught_up=True)
    assert merge.frontier(0) == (progress_bound(5, "a", 0, 3), True)
    assert merge.frontier(0, lambda s: s[1] == "a") == (progress_bound(5, "a", 0, 3), False)


# ---------------------------------------------------------------------- producers' watermark markers
# A log with watermark markers: an item is a record's merge timestamp (an int, as above) or a producer's
# marker ("w", T) — "nothing more at or before T here" (streams/kafka/headers.py). Every merge takes a
# marker as a message of merge timestamp T + 1 that writes nothing (streams/runtime/align.py merge_keyer).
items = st.one_of(st.integers(0, 40), st.just(-1), st.tuples(st.just("w"), st.integers(0, 45)))
marked_logs = st.dictionaries(st.tuples(st.sampled_from(TOPICS), st.integers(0, 3)), st.lists(items, max_size=12),
                              min_size=1, max_size=8)
END_T = 46  # above every timestamp and marker of marked_logs: a producer's end of input


def _key(item: int | tuple[str, int]) -> int:
    return item[1] + 1 if isinstance(item, tuple) else item


def replay_merge_marked(log: dict[tuple[str, int], list]) -> list[tuple[str, int, int]]:
    """The replay's merge over a log with markers: they are merged by T + 1; only records come out."""
    keyed = {tp: [_key(i) for i in its] for tp, its in log.items()}
    return [(t, p, o) for t, p, o in replay_merge(keyed) if not isinstance(log[(t, p)][o], tuple)]


def marked_positions(log: dict[tuple[str, int], list]) -> dict[tuple[str, int, int], tuple]:
    """The first stage's positions: W advances on records and markers alike; markers write nothing."""
    marks = SourceWatermarks()
    out = {}
    for (t, p), its in sorted(log.items()):
        for o, item in enumerate(its):
            w = marks.advance(t, p, _key(item))
            if not isinstance(item, tuple):
                out[(t, p, o)] = position(w, t, p, o)
    return out


def _honest(its: list) -> list:
    """Keeps only the markers no later item of the partition goes at or below (a refused message's -1 included)."""
    return [i for n, i in enumerate(its)
            if not isinstance(i, tuple) or all(_key(later) > i[1] for later in its[n + 1:])]


@settings(max_examples=300, deadline=None)
@given(marked_logs)
def test_with_watermark_markers_the_replays_merge_is_still_the_position_order(log: dict) -> None:
    pos = marked_positions(log)
    merged = replay_merge_marked(log)
    assert sorted(merged) == sorted(pos)
    assert merged == sorted(merged, key=pos.__getitem__)


@settings(max_examples=300, deadline=None)
@given(marked_logs)
def test_honest_watermark_markers_change_no_order_and_no_position(log: dict) -> None:
    """A marker no later record goes below changes neither the replay's order nor any record's W: the
    records' positions are those of the same log without markers."""
    honest = {tp: _honest(its) for tp, its in log.items()}
    bare = {tp: [i for i in its if not isinstance(i, tuple)] for tp, its in honest.items()}
    # offsets differ once markers are dropped: compare by (source, n-th record, W)
    def by_record(logx: dict) -> list[tuple[str, int, int, int]]:
        pos = marked_positions(logx)
        n_of = {}
        for (t, p), its in logx.items():
            k = 0
            for o, item in enumerate(its):
                if not isinstance(item, tuple):
                    n_of[(t, p, o)] = k
                    k += 1
        return [(t, p, n_of[(t, p, o)], pos[(t, p, o)][0]) for t, p, o in replay_merge_marked(logx)]

    assert by_record(honest) == by_record(bare)


@settings(max_examples=200, deadline=None)
@given(marked_logs, st.integers(1, 3), st.integers(1, 3), st.randoms(use_true_random=False))
def test_the_live_merge_releases_the_replays_order_on_watermarks_without_a_timer(
    log: dict, destinations: int, writers: int, rnd: random.Random
) -> None:
    """Markers anywhere, sources split among writers, input arriving over time, writers announcing
    progress (always after a marker: the rekey stage's markers at the next commit) and "caught up"; the
    reader is :class:`LiveOrderedMerge` with every source strict and a clock far past ``idle_s``. It
    releases the records in the replay's order (with markers), never waits on a stream whose announced
    bound is past the smallest held record, and releases them all once each producer ends its input with
    a watermark past everything — no caught-up stream is ever passed on the timer."""
    from streams.runtime.ordered import LiveOrderedMerge, position_header, progress_header

    log = {tp: [*its, ("w", END_T)] for tp, its in log.items()}
    pos = marked_positions(log)
    replay = [pos[r] for r in replay_merge_marked(log)]
    sources = sorted(log)
    owner = {s: rnd.randrange(writers) for s in sources}
    arrived = dict.fromkeys(sources, 0)
    cursor = dict.fromkeys(sources, 0)
    marks = SourceWatermarks()
    merge = LiveOrderedMerge({}, sources, idle_s=0.5)
    merge.assign(set(range(destinations)))
    released: list[tuple] = []
    offset = 0
    now = 0.0

    def write_marker(source: tuple[str, int]) -> None:
        nonlocal offset
        t, p = source
        for q in range(destinations):
            offset += 1
            merge.arrived(q, offset, None, None, 0, [progress_header(
                t, p, marks.of.get(source), cursor[source], cursor[source] == arrived[source], True)])

    def release() -> None:
        nonlocal now
        now += 10.0  # every release is long past idle_s
        released.extend(p for p, _ in merge.release(now, lambda *at: True))
        held = [q[0][0] for q in merge.merge.queues.values() if q]
        if held:  # it waits only on a stream that can still deliver something before the smallest held one
            smallest = min(held)
            assert any(not q and merge.merge.low[s] <= smallest for s, q in merge.merge.queues.items())

    while any(cursor[s] < len(log[s]) for s in sources):
        source = rnd.choice(sources)
        if arrived[source] < len(log[source]) and rnd.random() < 0.5:
            arrived[source] += rnd.randint(1, len(log[source]) - arrived[source])
        mine = [s for s in sources if owner[s] == rnd.randrange(writers) and cursor[s] < arrived[s]]
        if mine:
            source = rnd.choice(mine)
            t, p = source
            o = cursor[source]
            item = log[source][o]
            marks.advance(t, p, _key(item))
            cursor[source] += 1
            if isinstance(item, tuple):
                write_marker(source)
            else:
                offset += 1
                merge.arrived((o * 7 + p) % destinations, offset, b"k", b"v", 0, [position_header(pos[(t, p, o)])])
        if rnd.random() < 0.5:
            write_marker(rnd.choice(sources))
        release()
        assert released == replay[:len(released)]
    release()
    assert merge.passed == 0
    assert released == replay
    assert merge.merge.held == 0
