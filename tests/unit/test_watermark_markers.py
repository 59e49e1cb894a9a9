"""Producers' watermark markers on input topics (streams/kafka/headers.py): the header round trip, the door
writing them at the end of an input, the first (rekey) stage advancing its source watermark and announcing
the source strict, and the reading stage releasing on them — never on a timer for such a source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.admission import AdmissionConfig
from processors.ordering import position, progress_bound
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.engines.native import NativeWorker
from streams.ingest.producer import FileProducer
from streams.kafka.headers import (
    PRODUCED_AT_HEADER,
    WATERMARK_HEADER,
    is_marker,
    read_watermark,
    watermark_header,
    watermark_of,
    watermark_strict,
)
from streams.runtime.align import merge_keyer
from streams.runtime.driver import PipelineDriver
from streams.runtime.ordered import (
    LiveOrderedMerge,
    position_header,
    progress_header,
    read_progress,
    saved_sources,
    source_state,
    source_state_key,
)
from streams.runtime.pipelines import build_pipeline
from tests.support.marketdata import at, tick

SERDE = AvroSerde()
T0 = at("2026-11-20 15:00:00")


# ---------------------------------------------------------------------- the header
@given(st.integers(-1, 2**62))
def test_a_watermark_header_round_trips(t_ms: int) -> None:
    header = watermark_header(t_ms)
    assert header == (WATERMARK_HEADER, str(t_ms).encode())
    assert read_watermark(None, [header]) == t_ms
    assert watermark_of([(PRODUCED_AT_HEADER, b"1"), header]) == t_ms
    assert is_marker(None, [header])
    assert not watermark_strict([header])
    assert read_watermark(b"event", [header]) is None  # with a value: an event, not a marker
    assert not is_marker(b"event", [header])
    strict = watermark_header(t_ms, strict=True)
    assert strict == (WATERMARK_HEADER, b"%d;strict" % t_ms)
    assert read_watermark(None, [strict]) == t_ms and watermark_strict([strict]) and is_marker(None, [strict])


def test_what_is_not_a_watermark_marker() -> None:
    assert read_watermark(None, None) is None
    assert read_watermark(None, [(PRODUCED_AT_HEADER, b"5")]) is None  # a tombstone, say
    assert read_watermark(None, [(WATERMARK_HEADER, b"soon")]) is None
    assert not is_marker(None, [(PRODUCED_AT_HEADER, b"5")])


def test_every_merge_keys_a_marker_just_after_its_t_whatever_the_admission_bounds() -> None:
    """Nothing more at or before T: a marker is merged as a message of time T + 1 (ms) that writes nothing."""
    header = [watermark_header(1_000)]
    bounds = AdmissionConfig()  # floor 2000-01-01: a 1970 timestamp is below it
    assert merge_keyer(None)(1_000, header) == 1_001
    assert merge_keyer(None)(7, [watermark_header(1_000, strict=True)]) == 1_001  # the header decides
    assert merge_keyer(bounds)(1_000, header) == 1_001  # below the floor, still T + 1
    assert merge_keyer(bounds)(1_000, None) == -1  # an event that old is refused: first


def test_the_driver_takes_a_marker_as_no_event() -> None:
    driver = PipelineDriver(build_pipeline("marketdata", Settings()), SERDE)
    assert driver.process("md.ticks.v1", 0, 0, None, [watermark_header(T0 // 1000)]) == []
    assert driver.inputs_seen == 0 and driver.refused == 0
    assert driver.process("md.ticks.v1", 0, 1, None, None) != []  # a value-less message without it: refused


# ---------------------------------------------------------------------- the door
class _Partitions:
    def __init__(self, n: int) -> None:
        self.partitions = dict.fromkeys(range(n))
        self.error = None


class _Recording:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.sent: list[tuple[str, bytes | None, Any, dict[str, Any]]] = []

    def produce(self, topic: str, value: bytes | None, key: Any = None, **kwargs: Any) -> None:
        self.sent.append((topic, value, key, kwargs))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def list_topics(self, name: str, timeout: float = 0) -> Any:
        class _Meta:
            topics = {name: _Partitions(self.partitions)}

        return _Meta()


def test_the_door_ends_each_input_with_its_highest_event_time_on_every_partition(tmp_path: Path) -> None:
    producer = _Recording(4)
    door = FileProducer(Settings(), "md.ticks.v1", serde=SERDE, producer=producer)  # type: ignore[arg-type]
    first = tmp_path / "a.jsonl"
    # out of order: the highest event time is the second row's
    first.write_text("\n".join(json.dumps(tick(t, 100.0, i, venue="binance", symbol="BTC/USDT"))
                               for i, t in enumerate([T0 + 5_000, T0 + 9_000, T0 + 7_000])) + "\n")
    door.produce_file(first)
    events = [s for s in producer.sent if s[1] is not None]
    markers = [s for s in producer.sent if s[1] is None]
    assert len(events) == 3 and producer.sent[:3] == events  # markers after the input's events
    high = (T0 + 9_000) // 1000
    assert [(m[3]["partition"], m[3]["timestamp"], m[3]["headers"]) for m in markers] == [
        (q, high, [watermark_header(high)]) for q in range(4)]
    assert all(m[2] is None for m in markers)
    # a next input below it does not move it back (the highest written to the topic so far)
    producer.sent.clear()
    second = tmp_path / "b.jsonl"
    second.write_text(json.dumps(tick(T0 + 1_000, 100.0, 7, venue="binance", symbol="BTC/USDT")) + "\n")
    door.produce_file(second)
    assert [m[3]["timestamp"] for m in producer.sent if m[1] is None] == [high] * 4


def test_an_empty_input_writes_no_marker(tmp_path: Path) -> None:
    producer = _Recording(3)
    door = FileProducer(Settings(), "md.ticks.v1", serde=SERDE, producer=producer)  # type: ignore[arg-type]
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    door.produce_file(empty)
    assert producer.sent == []


# ---------------------------------------------------------------------- the first (rekey) stage
class _Message:
    def __init__(self, topic: str, partition: int, offset: int, ts: int, value: bytes | None,
                 headers: list[tuple[str, bytes]] | None) -> None:
        self._t = (topic, partition, offset, ts, value, headers)

    def topic(self) -> str:
        return self._t[0]

    def partition(self) -> int:
        return self._t[1]

    def offset(self) -> int:
        return self._t[2]

    def timestamp(self) -> tuple[int, int]:
        return 1, self._t[3]

    def value(self) -> bytes | None:
        return self._t[4]

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._t[5]

    def key(self) -> bytes | None:
        return None


class _Produced:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any, dict[str, Any]]] = []

    def produce(self, topic: str, value: Any, key: Any, **kwargs: Any) -> None:
        self.sent.append((topic, value, key, kwargs))


def _marker(topic: str, partition: int, offset: int, t_ms: int, strict: bool = False) -> _Message:
    return _Message(topic, partition, offset, t_ms, None, [watermark_header(t_ms, strict)])


def test_the_rekey_stage_advances_its_source_watermark_past_t_and_a_live_producer_makes_it_strict() -> None:
    worker = NativeWorker(Settings(), "risk")
    rekey = worker.stages[0]
    health = worker.settings.topic("trading.venue-health.v1")
    ticks = worker.settings.topic("md.ticks.v1")
    worker.producer = _Produced()
    worker._run(rekey, [_marker(health, 2, 10, 5_000), _marker(ticks, 0, 3, 7_000, strict=True)])
    assert rekey.watermarks.of == {(health, 2): 5_001, (ticks, 0): 7_001}  # nothing more at or before T
    assert rekey.watermarks.strict == {(ticks, 0)}  # the door's end of input is not a promise to go on
    assert rekey.source_next == {(health, 2): 11, (ticks, 0): 4}
    worker._run(rekey, [_marker(health, 2, 11, 4_000)])  # never backwards: W = max(W, T + 1)
    assert rekey.watermarks.of[(health, 2)] == 5_001 and rekey.source_next[(health, 2)] == 12
    assert worker.producer.sent == []  # a marker is no event: nothing to the repartition topic
    # W is state: in the changelog with the flag, and restored from it
    writes = sorted(worker._watermark_writes(rekey))
    assert writes == sorted([(source_state_key(health, 2), source_state(5_001, 2), 2),
                             (source_state_key(ticks, 0), source_state(7_001, 0, True), 0)])
    assert saved_sources(rekey.table, {0, 2}) == {(health, 2): (5_001, False), (ticks, 0): (7_001, True)}
    assert saved_sources(rekey.table, {1}) == {}
    # its progress markers say so, to every partition of the repartition topic
    worker.assigned = {(health, 2), (ticks, 0)}
    worker.marker_partitions = {t: 3 for t in rekey.ordered_outputs}
    worker._end_offset = lambda topic, partition, position: {health: 12, ticks: 4}[topic]  # type: ignore[method-assign]
    worker._write_markers(rekey)
    [out] = rekey.ordered_outputs
    assert sorted((t, kw["partition"], read_progress(kw["headers"])) for t, _, _, kw in worker.producer.sent) == sorted(
        [(out, q, (health, 2, 5_001, 12, True, False)) for q in range(3)]
        + [(out, q, (ticks, 0, 7_001, 4, True, True)) for q in range(3)])


def test_a_source_that_never_carried_a_marker_is_not_strict() -> None:
    worker = NativeWorker(Settings(), "risk")
    rekey = worker.stages[0]
    worker._run(rekey, [])
    assert rekey.watermarks.strict == set()
    assert source_state(7, 1) == orjson.dumps({"w": 7, "partition": 1})  # the saved form of before
    assert read_progress([("mercado-progress", orjson.dumps(["t", 1, 7, 3, True]))]) == ("t", 1, 7, 3, True,
                                                                                         False)


# ---------------------------------------------------------------------- the reading stage
SOURCES = [("in", 0), ("in", 1)]


def _merge(idle_s: float, table: dict[bytes, bytes] | None = None) -> LiveOrderedMerge:
    merge = LiveOrderedMerge({} if table is None else table, SOURCES, idle_s=idle_s)
    merge.assign({0})
    return merge


def _record(merge: LiveOrderedMerge, offset: int, pos: tuple) -> list:
    return merge.arrived(0, offset, b"k", b"v%d" % offset, pos[0], [position_header(pos)])


def _progress(merge: LiveOrderedMerge, offset: int, source: int, watermark: int, next_offset: int,
              caught_up: bool, strict: bool) -> list:
    return merge.arrived(0, offset, None, None, 0,
                         [progress_header("in", source, watermark, next_offset, caught_up, strict)])


def _values(released: list) -> list[bytes]:
    return [item.value for _, item in released]


def test_a_strict_source_is_never_passed_on_the_timer_and_its_watermark_releases() -> None:
    merge = _merge(0.5)
    _progress(merge, 0, 0, 5, 3, caught_up=True, strict=True)  # source 0 at its end, its producer at 5
    _record(merge, 1, position(9, "in", 1, 0))
    assert merge.release(10.0, lambda *at: True) == []
    assert merge.release(1e9, lambda *at: True) == []  # idle forever, still held: source 0 may write 5..9
    assert merge.frontier(0, lambda *at: True)[1] is False
    _progress(merge, 2, 0, 9, 4, caught_up=True, strict=True)  # its producer's watermark 9: (9, 0) < (9, 1)
    assert merge.release(1e9 + 1, lambda *at: True) == []
    _progress(merge, 3, 0, 10, 5, caught_up=True, strict=True)  # watermark 10: nothing of source 0 below 10
    assert _values(merge.release(1e9 + 2, lambda *at: False)) == [b"v1"]  # no look-up, no timer: the log
    assert merge.passed == 0


def test_a_source_without_watermarks_keeps_the_timer_fallback() -> None:
    merge = _merge(0.5)
    _progress(merge, 0, 0, 5, 3, caught_up=True, strict=False)
    _record(merge, 1, position(9, "in", 1, 0))
    assert merge.release(10.0, lambda *at: True) == []
    assert _values(merge.release(10.5, lambda *at: True)) == [b"v1"]
    assert merge.passed == 1


def test_strictness_is_state() -> None:
    table: dict[bytes, bytes] = {}
    merge = _merge(0.5, table)
    _progress(merge, 0, 0, 5, 3, caught_up=True, strict=True)
    merge.save()
    again = _merge(0.5, table)
    assert again.strict == {(0, "in", 0)}
    _record(again, 1, position(9, "in", 1, 0))
    assert again.release(1e9, lambda *at: True) == []
    again.forget({0})
    assert again.strict == set()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100), st.integers(0, 1), st.integers(0, 100), st.integers(0, 5))
def test_a_record_goes_exactly_when_every_other_sources_watermark_is_past_it(
    w: int, source: int, t: int, next_offset: int
) -> None:
    """A held record at (w, source ...) and the other source's producer watermark t: released with no timer
    exactly when the other source can no longer write anything before it."""
    merge = _merge(-1)
    other = 1 - source
    _record(merge, 1, position(w, "in", source, 0))
    _progress(merge, 2, other, t, next_offset, caught_up=True, strict=True)
    released = _values(merge.release(0.0, lambda *at: True))
    assert released == ([b"v1"] if (w, source) < (t, other) else [])
    assert released == ([b"v1"] if position(w, "in", source, 0) < progress_bound(t, "in", other, next_offset)
                        else [])


# ---------------------------------------------------------------------- a live feed
class _TransactionalRecording(_Recording):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(3)
        self.calls: list[str] = []

    def init_transactions(self, timeout: float = 0) -> None:
        pass

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def commit_transaction(self, timeout: float = 0) -> None:
        self.calls.append(f"commit {len(self.sent)}")


def test_a_feed_announces_its_clock_strictly_in_a_transaction_when_it_moved(monkeypatch: Any) -> None:
    from processors import topics
    from streams.feeds import writer as feed_writer
    from streams.feeds.core import trade_tick

    monkeypatch.setattr(feed_writer, "Producer", _TransactionalRecording)
    writer = feed_writer.FeedWriter(Settings(), "binance", serde=SERDE)
    producer = writer.producer
    writer.announce_watermarks()
    assert producer.calls == [] and producer.sent == []  # nothing written yet: no clock
    now = T0 + 60_000_000
    ticks = [trade_tick("binance", "BTC/USDT", str(i), T0 + i * 1000, 100.0, 0.5, now) for i in (5, 9, 7)]
    writer.write_batch(ticks)
    assert writer.clock_ms == {topics.TICKS: (T0 + 9_000) // 1000}
    producer.sent.clear()
    producer.calls.clear()
    writer.announce_watermarks()
    t = (T0 + 9_000) // 1000 - 1  # a trade of that very ms may still come
    assert producer.calls == ["begin", "commit 3"]
    assert [(kw["partition"], kw["timestamp"], kw["headers"]) for _, value, _, kw in producer.sent] == [
        (q, t, [watermark_header(t, strict=True)]) for q in range(3)]
    assert all(value is None for _, value, _, _ in producer.sent)
    producer.calls.clear()
    writer.announce_watermarks()  # the clock did not move: nothing
    assert producer.calls == []


def test_headers_as_faust_gives_them_a_dict() -> None:
    assert read_watermark(None, dict([watermark_header(42, strict=True)])) == 42
    assert watermark_strict(dict([watermark_header(42, strict=True)]))
    assert is_marker(None, dict([watermark_header(42)]))
    assert not is_marker(None, {PRODUCED_AT_HEADER: b"1"})
    driver = PipelineDriver(build_pipeline("marketdata", Settings()), SERDE)
    assert driver.process("md.ticks.v1", 0, 0, None, dict([watermark_header(42)])) == []


def test_a_marker_moves_the_consumer_lag_but_is_no_event_in() -> None:
    from prometheus_client import REGISTRY

    from streams.engines.live import observe_batch
    from streams.observability import metrics

    topic, group = "obs-test.market.ticks.v1", "obs-test-group"
    counter = metrics.EVENTS_IN.labels(topic, "obs-test")
    before = counter._value.get()
    lag = metrics.PROCESSING_LAG.labels("obs-test")
    batch = [(topic, 0, 10, 1_000.0, False), (topic, 0, 11, 1_000.5, False), (topic, 0, 12, 1_001.0, True)]
    observe_batch(iter(batch), {"market.ticks.v1": counter}, lag, group, lambda t, p: 20)
    assert counter._value.get() - before == 2  # the two events, not the marker
    lag_now = REGISTRY.get_sample_value("mercado_consumer_lag_messages",
                                        {"group": group, "topic": topic, "partition": "0"})
    assert lag_now == 20 - 12 - 1  # the marker's offset is the consumer's position
