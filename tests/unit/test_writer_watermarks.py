"""Watermarks on a topic that one pipeline writes and another reads (docs/architecture.md, "Watermarks in the
log"): every task of the writing stage announces its watermark on every partition of the topic; the reader
takes, per partition, the min over all the writers (processors/ordering.py ``WriterWatermarks``), in the
replay's merge and in the live first stage alike, and holds the partition strictly."""

from __future__ import annotations

import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from processors import topics
from processors.ordering import IDLE_WRITER, OrderedMerge, SourceWatermarks, WriterWatermarks, position
from streams.config import Settings
from streams.engines.native import NativeWorker
from streams.kafka.headers import (
    WRITER_WATERMARK_HEADER,
    is_marker,
    read_watermark,
    read_writer_watermark,
    writer_watermark_header,
)
from streams.runtime.driver import PipelineDriver
from streams.runtime.ordered import LiveOrderedMerge, progress_header, saved_writers, source_state_key
from streams.runtime.pipelines import ANNOUNCED, build_stages
from tests.unit.test_watermark_markers import SERDE, _Message, _Produced


def test_the_header_round_trips_and_is_a_marker_no_reader_takes_for_an_event() -> None:
    header = writer_watermark_header("p.risk.inputs.v1", 2, 3, 1_700_000_000_123)
    assert header == (WRITER_WATERMARK_HEADER, b'["p.risk.inputs.v1",2,3,1700000000123]')
    assert read_writer_watermark(None, [header]) == ("p.risk.inputs.v1", 2, 3, 1_700_000_000_123)
    assert read_writer_watermark(b"event", [header]) is None
    assert read_writer_watermark(None, [(WRITER_WATERMARK_HEADER, b"nonsense")]) is None
    assert is_marker(None, [header]) and not is_marker(b"event", [header])
    assert read_watermark(None, [header]) is None  # not a producer's marker: no single writer's T is the partition's
    driver = PipelineDriver(build_stages("venue-paper", Settings())[0], SERDE)
    assert driver.process(topics.DECISIONS, 0, 5, None, [header]) == []  # no event, no dead letter


def test_the_partitions_watermark_is_the_min_over_every_writer_once_each_announced() -> None:
    w = WriterWatermarks()
    assert w.combine("d", 0, "ri", 0, 3, 500) is None  # writers 1 and 2 not heard of yet
    assert w.combine("d", 0, "ri", 2, 3, 300) is None
    assert w.combine("d", 1, "ri", 1, 3, 100) is None  # partitions are apart
    assert w.combine("d", 0, "ri", 1, 3, 400) == 300
    assert w.combine("d", 0, "ri", 2, 3, 900) == 400
    assert w.combine("d", 0, "ri", 1, 3, 200) == 400  # a writer's T never goes back
    assert w.combine("d", 0, "ri", 0, 3, 1_000) == 400
    saved = w.snapshot("d", 0)
    assert saved == {"ri": [3, {"0": 1_000, "1": 400, "2": 900}]}
    again = WriterWatermarks()
    again.restore("d", 0, saved)
    assert again.combine("d", 0, "ri", 1, 3, 950) == 900  # restored: goes on as before
    assert w.snapshot("d", 2) is None
    # the writing stage now has 2 tasks: they start over (until both announced, nothing is known)
    assert w.combine("d", 0, "ri", 0, 2, 2_000) is None
    assert w.combine("d", 0, "ri", 1, 2, 1_500) == 1_500
    assert w.combine("d", 0, "ri", 7, 2, 1_000) == 1_500  # not one of the writers: ignored
    # two writing stages on one partition: the min over both, once each is complete
    assert w.combine("d", 0, "other", 0, 1, 1_200) == 1_200
    w.forget(lambda tp: tp[1] != 0)
    assert w.of == {(("d", 1)): {"ri": (3, {1: 100})}}


def test_a_tasks_watermark_is_w_less_1_of_what_it_can_still_release() -> None:
    m = OrderedMerge()
    a, b, c = (0, "t", 0), (0, "t", 1), (0, "t", 2)
    m.open([a, b, c, (1, "t", 0)])
    assert m.watermark(0) is None  # bounds unknown
    m.progress(a, (100, 0, "t", 5, 0), caught_up=False)
    m.progress(b, (300, 1, "t", 9, 0), caught_up=True)
    assert m.watermark(0) is None  # c is unknown and not caught up
    m.progress(c, (), caught_up=True)  # a source that never wrote, at its end: passed
    assert m.watermark(0) == 99  # a is not caught up: it can still deliver W 100
    assert m.watermark(0, lambda s: False) is None  # nothing passable: c's bound is unknown
    m.add(a, (150, 0, "t", 5, 0), "x")
    assert m.watermark(0) == 149  # the held head
    m.progress((1, "t", 0), (), caught_up=True)
    assert [item for _, item in m.release()] == ["x"]
    m.progress(a, (160, 0, "t", 6, 0), caught_up=True)
    assert m.watermark(0) == 300  # every stream passed: the highest W known (its last record is released)
    # a task that never got input, its one source at its end: it bounds nothing (its readers leave it out)
    assert m.watermark(1) == IDLE_WRITER
    assert m.watermark(1, lambda s: False) is None  # not passable (strict): its bound is unknown
    assert m.watermark(2) is None  # no stream of that task at all


def test_an_idle_writer_is_left_out_of_the_min_and_all_idle_bounds_nothing() -> None:
    w = WriterWatermarks()
    assert w.combine("d", 0, "ri", 0, 3, IDLE_WRITER) is None
    assert w.combine("d", 0, "ri", 1, 3, IDLE_WRITER) is None
    assert w.combine("d", 0, "ri", 2, 3, IDLE_WRITER) is None  # all announced, all idle: nothing known
    assert w.combine("d", 0, "ri", 1, 3, 700) == 700  # the one that wrote bounds the partition alone
    assert w.combine("d", 0, "ri", 0, 3, 400) == 400  # an idle writer that got input joins the min
    assert w.combine("d", 0, "ri", 0, 3, IDLE_WRITER) == 400  # a T never goes back


# ---------------------------------------------------------------------- the native worker
def _announce_marker(topic: str, partition: int, offset: int, writer: int, t_ms: int) -> _Message:
    return _Message(topic, partition, offset, t_ms, None, [writer_watermark_header("w.in", writer, 3, t_ms)])


def test_the_readers_first_stage_takes_the_min_over_the_writers_as_a_strict_watermark() -> None:
    worker = NativeWorker(Settings(), "venue-paper")
    rekey = worker.stages[0]
    decisions = worker.settings.topic(topics.DECISIONS)
    worker.producer = _Produced()
    worker._run(rekey, [_announce_marker(decisions, 1, 10, 0, 5_000), _announce_marker(decisions, 1, 11, 1, 6_000)])
    assert rekey.watermarks.of == {}  # writer 2 has not announced: nothing is known of the partition yet
    assert rekey.watermarks.strict == {(decisions, 1)}  # but it is held strictly at once
    worker._run(rekey, [_announce_marker(decisions, 1, 12, 2, 4_000)])
    assert rekey.watermarks.of == {(decisions, 1): 4_001}
    worker._run(rekey, [_announce_marker(decisions, 1, 13, 2, 8_000)])
    assert rekey.watermarks.of == {(decisions, 1): 5_001} and rekey.source_next == {(decisions, 1): 14}
    assert worker.producer.sent == []  # markers are no events
    # state: what each writer announced is in the changelog with W, and restored
    worker._watermark_writes(rekey)
    assert saved_writers(rekey.table, {1}) == {(decisions, 1): {"w.in": [3, {"0": 5_000, "1": 6_000, "2": 8_000}]}}
    assert saved_writers(rekey.table, {0}) == {}
    assert source_state_key(decisions, 1) in rekey.table


def test_the_writing_stages_tasks_announce_on_every_partition_of_the_topic_when_their_watermark_moves() -> None:
    worker = NativeWorker(Settings(), "risk")
    risk = worker.stages[1]
    assert topics.DECISIONS in ANNOUNCED
    decisions = worker.settings.topic(topics.DECISIONS)
    assert risk.announces == [decisions] and worker.stages[0].announces == []
    inputs = worker.settings.topic(topics.RISK_INPUTS)
    sources = [("s", 0), ("s", 1)]
    risk.merge = LiveOrderedMerge(risk.table, sources, idle_s=0.5)
    risk.merge.assign({0, 1})
    risk.partitions = 2
    worker.assigned = {(inputs, 0)}
    worker.marker_partitions = {decisions: 3}
    worker._at_end = lambda topic, partition, next_offset: True  # type: ignore[method-assign]
    worker.producer = _Produced()
    risk.merge.arrived(0, 0, None, None, 0, [progress_header("s", 0, 1_000, 4, False)])
    worker._announce(risk)
    assert worker.producer.sent == []  # source 1's bound is unknown
    risk.merge.arrived(0, 1, None, None, 0, [progress_header("s", 1, 2_000, 7, True)])
    worker._announce(risk)
    assert [(t, kw["partition"], kw["timestamp"], read_writer_watermark(v, kw["headers"]))
            for t, v, _, kw in worker.producer.sent] == [(decisions, p, 999, (inputs, 0, 2, 999)) for p in range(3)]
    worker.producer.sent.clear()
    worker._announce(risk)
    assert worker.producer.sent == []  # unchanged: not again
    risk.merge.arrived(0, 2, None, None, 0, [progress_header("s", 0, 3_000, 9, True)])
    worker._announce(risk)  # both caught up and passable: the highest W known, not less 1 (else its last
    # record would wait at its readers until its input moved on)
    assert {read_writer_watermark(None, kw["headers"])[3] for _, _, _, kw in worker.producer.sent} == {3_000}


# ---------------------------------------------------------------------- the replay's order
# A partition's log: records (their merge timestamp) and writers' markers ("a", writer, T) of 3 writers.
WRITERS = 3
items = st.one_of(st.integers(0, 40), st.just(-1), st.tuples(st.just("a"), st.integers(0, WRITERS - 1),
                                                              st.integers(0, 45)))
announced_logs = st.dictionaries(st.tuples(st.sampled_from(("d", "t")), st.integers(0, 3)),
                                 st.lists(items, max_size=14), min_size=1, max_size=6)


def _keys(log: dict) -> dict[tuple[str, int], list[int]]:
    """Each message's merge key as the replay's merge computes it (streams/engines/replay.py)."""
    writers = WriterWatermarks()
    out = {}
    for (t, p), its in log.items():
        keys = []
        for item in its:
            if isinstance(item, tuple):
                found = writers.combine(t, p, "w", item[1], WRITERS, item[2])
                keys.append(-1 if found is None else found + 1)
            else:
                keys.append(item)
        out[(t, p)] = keys
    return out


@settings(max_examples=300, deadline=None)
@given(announced_logs)
def test_with_writers_markers_the_replays_merge_is_the_first_stages_position_order(log: dict) -> None:
    """The replay's merge (heads by key, markers keyed by the min over the writers + 1) releases the
    records in the order of the positions the live first stage gives them (W advanced by the same min + 1,
    markers handled in log order per partition, as native.py does)."""
    keys = _keys(log)
    heap = [(ks[0], p, t, 0) for (t, p), ks in keys.items() if ks]
    heapq.heapify(heap)
    merged = []
    while heap:
        _, p, t, o = heapq.heappop(heap)
        if not isinstance(log[(t, p)][o], tuple):
            merged.append((t, p, o))
        if o + 1 < len(keys[(t, p)]):
            heapq.heappush(heap, (keys[(t, p)][o + 1], p, t, o + 1))
    marks, first_stage, pos = SourceWatermarks(), WriterWatermarks(), {}
    for (t, p), its in sorted(log.items()):
        for o, item in enumerate(its):
            if isinstance(item, tuple):
                found = first_stage.combine(t, p, "w", item[1], WRITERS, item[2])
                if found is not None:
                    marks.advance(t, p, found + 1)
            else:
                pos[(t, p, o)] = position(marks.advance(t, p, item), t, p, o)
    assert sorted(merged) == sorted(pos)
    assert merged == sorted(merged, key=pos.__getitem__)
