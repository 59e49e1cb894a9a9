"""The live worker's event-time alignment of several input partitions (streams/runtime/align.py), without Kafka."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.align import EventTimeAligner, Held, is_held_key, pending_check, restore_held


def msg(topic: str, partition: int, offset: int, ts: int) -> Held:
    return Held(topic, partition, offset, ts, b"k", f"{topic}{offset}".encode(), (("h", b"1"),))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def never_pending(topic: str, partition: int, idle: float) -> bool:
    return False


def always_pending(topic: str, partition: int, idle: float) -> bool:
    return True


def test_a_partition_with_nothing_held_and_more_to_read_holds_the_others_back() -> None:
    a = EventTimeAligner()
    a.assign([("orders", 0), ("ticks", 0)])
    a.add(msg("orders", 0, 0, 100))
    a.add(msg("orders", 0, 1, 300))
    assert a.release(always_pending) == []  # ticks may still deliver something older than 100
    assert a.held_count == 2
    a.add(msg("ticks", 0, 0, 200))
    # ticks' head (200) is known: orders@100 goes; then ticks@200 goes, after which ticks is empty again
    assert [m.order for m in a.release(always_pending)] == [(100, 0, "orders", 0), (200, 0, "ticks", 0)]
    assert a.held_count == 1
    assert [m.order for m in a.release(never_pending)] == [(300, 0, "orders", 1)]
    assert a.held_count == 0


def test_ties_go_by_partition_then_topic_like_the_replay() -> None:
    a = EventTimeAligner()
    a.assign([("b", 0), ("a", 1), ("a", 0)])
    for m in (msg("b", 0, 0, 5), msg("a", 1, 0, 5), msg("a", 0, 0, 5)):
        a.add(m)
    assert [(m.topic, m.partition) for m in a.release(never_pending)] == [("a", 0), ("b", 0), ("a", 1)]


def test_revoked_partitions_are_dropped_with_what_they_held() -> None:
    a = EventTimeAligner()
    a.assign([("a", 0), ("b", 0)])
    a.add(msg("a", 0, 0, 1))
    a.assign([("b", 0)])
    assert a.held_count == 0 and a.release(never_pending) == []


def test_pending_waits_on_known_lag_and_for_a_while_on_unknown_lag_or_a_marker() -> None:
    positions = {("t", 0): 10, ("t", 1): 10, ("t", 2): 10}
    highwater = {("t", 0): 10, ("t", 1): 11, ("t", 2): 50, ("t", 3): None, ("t", 4): 0}
    pending = pending_check(positions, lambda t, p: highwater[(t, p)], idle_s=2.0, stall_s=60.0)
    assert not pending("t", 0, 0.0)  # caught up
    assert pending("t", 1, 1.9) and not pending("t", 1, 2.0)  # one offset left: a transaction marker
    assert pending("t", 2, 59.9) and not pending("t", 2, 60.0)  # known lag
    assert pending("t", 3, 1.0) and not pending("t", 3, 2.5)  # nothing seen, nothing looked up
    assert pending("t", 4, 1.0)  # nothing seen: a watermark of 0 before the first fetch means nothing


def test_the_idle_wait_uses_the_time_since_the_partition_last_delivered() -> None:
    clock = Clock()
    a = EventTimeAligner(clock)
    a.assign([("a", 0), ("b", 0)])
    a.add(msg("a", 0, 0, 1))

    def pending(topic: str, partition: int, idle: float) -> bool:
        return idle < 2.0

    assert a.release(pending) == []
    clock.now = 2.0
    assert [m.offset for m in a.release(pending)] == [0]


def test_held_messages_survive_the_state_table() -> None:
    held = [msg("orders", 2, 7, 123), Held("ticks", 0, 3, 9, None, None, ())]
    table = [(m.state_key, m.dumps()) for m in reversed(held)] + [("venue:x", b'{"state": 1}')]
    assert all(is_held_key(k) for k, _ in table[:2]) and not is_held_key("venue:x")
    assert restore_held(table) == sorted(held, key=lambda m: (m.topic, m.partition, m.offset))


@st.composite
def partitions_and_arrival(draw: st.DrawFn) -> tuple[list[list[Held]], list[int]]:
    """Up to four partitions, each in event-time order, and an arrival order interleaving them."""
    n = draw(st.integers(1, 4))
    logs = []
    for p in range(n):
        times = sorted(draw(st.lists(st.integers(0, 50), max_size=12)))
        logs.append([msg(f"t{p % 2}", p, i, t) for i, t in enumerate(times)])
    arrival = draw(st.permutations([p for p, log in enumerate(logs) for _ in log]))
    return logs, arrival


@given(partitions_and_arrival(), st.integers(1, 5))
def test_any_arrival_order_releases_the_replays_merge_order(case: tuple, batch: int) -> None:
    """While every partition still has something to read, nothing is released out of order; once the
    inputs are all read, the whole release is the replay's merge order, however the messages arrived."""
    logs, arrival = case
    remaining = {(log[0].topic, p): len(log) for p, log in enumerate(logs) if log}
    a = EventTimeAligner()
    a.assign(remaining)
    cursor = [0] * len(logs)
    released: list[Held] = []

    def pending(topic: str, partition: int, idle: float) -> bool:
        return remaining[(topic, partition)] > 0

    for i, p in enumerate(arrival):
        m = logs[p][cursor[p]]
        cursor[p] += 1
        remaining[(m.topic, p)] -= 1
        a.add(m)
        if i % batch == 0:
            released += a.release(pending)
    released += a.release(pending)
    want = sorted((m for log in logs for m in log), key=lambda m: m.order)
    assert released == want


def test_a_partition_nothing_arrived_from_is_judged_by_its_committed_offset_and_end() -> None:
    looked_up: list[tuple[str, int]] = []

    def unseen(topic: str, partition: int) -> tuple[int, int] | None:
        looked_up.append((topic, partition))
        return {0: (5, 5), 1: (0, 900), 2: None}[partition]

    pending = pending_check({}, lambda t, p: 0, idle_s=2.0, stall_s=60.0, unseen=unseen)  # 0: not fetched yet
    assert not pending("t", 0, 0.0)  # resumes at its end: nothing to wait for
    assert pending("t", 1, 30.0) and not pending("t", 1, 60.0)  # 900 to read: wait (bounded)
    assert pending("t", 2, 1.0) and not pending("t", 2, 2.0)  # unknown: the idle rule
    pending("t", 1, 0.0)
    assert looked_up == [("t", 0), ("t", 1), ("t", 2)]  # once per partition
