"""The native worker's commit policy, on its own clock (no broker: the clients are made in ``start()``)."""

from __future__ import annotations

import pytest

from streams.config import Settings
from streams.engines.native import NativeWorker
from streams.engines.settings import WorkerSettings
from streams.kafka.settings import KafkaSettings


def _worker(**worker: float) -> NativeWorker:
    return NativeWorker(Settings(worker=worker), "marketdata")


def test_outputs_at_the_live_edge_commit_one_linger_after_the_first_output() -> None:
    w = _worker(commit_interval_s=0.1, live_commit_interval_s=0.005)
    w.last_commit = 100.0
    assert w.commit_due_at() == pytest.approx(100.1)  # only state and offsets: the commit interval
    w.caught_up, w.outputs_since = True, 100.02
    # a burst of outputs (every symbol's bar closes at the same boundary) shares the commit that the
    # first one opened: later outputs do not move it
    assert w.commit_due_at() == pytest.approx(100.025)
    w.outputs_since = 100.098  # never later than the commit interval
    assert w.commit_due_at() == pytest.approx(100.1)


def test_a_backlog_commits_at_the_interval_even_with_outputs() -> None:
    w = _worker(commit_interval_s=0.1, live_commit_interval_s=0.005)
    w.last_commit, w.outputs_since, w.caught_up = 100.0, 100.02, False
    assert w.commit_due_at() == pytest.approx(100.1)


def test_the_live_linger_is_capped_by_the_commit_interval() -> None:
    w = _worker(commit_interval_s=0.01, live_commit_interval_s=0.05)
    assert w.live_commit_interval_s == 0.01


def test_the_default_live_linger_covers_one_feed_linger() -> None:
    # the closing ticks of a boundary's bars arrive within one producer linger of each other (the
    # defaults as declared, not as this machine's MERCADO_* environment may override them)
    kafka, worker = KafkaSettings(), WorkerSettings()  # models, not BaseSettings: no environment
    assert kafka.producer_linger_ms / 1000 <= worker.live_commit_interval_s
    assert worker.live_commit_interval_s < worker.commit_interval_s


# ------------------------------------------------------------------ the commit's sequence, on fake clients
class _Calls:
    def __init__(self) -> None:
        self.log: list[str] = []


class _FakeProducer:
    def __init__(
        self,
        calls: _Calls,
        offsets_take_s: float = 0.05,
        offsets_error: Exception | None = None,
        commit_error: Exception | None = None,
    ) -> None:
        import threading

        self.calls, self.offsets_take_s, self.offsets_error = calls, offsets_take_s, offsets_error
        self.commit_error = commit_error
        self.broker_acks = threading.Event()  # commit_transaction returns once this is set
        self.broker_acks.set()

    def send_offsets_to_transaction(self, offsets: list, metadata: object, timeout: float) -> None:
        import time

        self.calls.log.append("offsets sent")
        time.sleep(self.offsets_take_s)
        if self.offsets_error is not None:
            raise self.offsets_error
        self.calls.log.append(f"offsets done {[(tp.topic, tp.partition, tp.offset) for tp in offsets]}")

    def produce(self, topic: str, value: bytes | None, key: bytes | None, **kwargs: object) -> None:
        self.calls.log.append(f"produce {topic}")

    def commit_transaction(self, timeout: float) -> None:
        self.calls.log.append("commit")
        assert self.broker_acks.wait(30)  # set by a 0.1 s timer thread: a margin for a loaded machine
        if self.commit_error is not None:
            raise self.commit_error
        self.calls.log.append("committed")

    def abort_transaction(self, timeout: float) -> None:
        self.calls.log.append("abort")

    def begin_transaction(self) -> None:
        self.calls.log.append("begin")


class _FakeConsumer:
    def consumer_group_metadata(self) -> object:
        return object()


def _committing_worker(monkeypatch: pytest.MonkeyPatch, producer_calls: _Calls, **kwargs: object) -> NativeWorker:
    import streams.engines.native as nw

    w = _worker()
    w.producer = _FakeProducer(producer_calls, **kwargs)  # type: ignore[arg-type]
    w.consumer = _FakeConsumer()
    w.offsets = {("md.ticks.v1", 2): 41}
    w.outputs_since = 1.0

    def one_state_write(driver: object, table: dict) -> list:
        producer_calls.log.append("state snapshot")
        return [(b"binance:BTC-USDT", b"{}", 2)]

    monkeypatch.setattr(nw, "state_writes", one_state_write)
    return w


def test_the_state_is_written_while_the_offsets_go_and_the_commit_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _Calls()
    w = _committing_worker(monkeypatch, calls)
    w.commit()
    # the offsets' call starts first, the state is snapshotted and produced while it runs, and the
    # transaction commits only once it returned
    assert calls.log[0] == "offsets sent"
    assert calls.log.index("state snapshot") < calls.log.index("offsets done [('md.ticks.v1', 2, 41)]")
    assert calls.log[-4:] == ["offsets done [('md.ticks.v1', 2, 41)]", "commit", "committed", "begin"]
    assert any(entry.endswith("-state-changelog") for entry in calls.log if entry.startswith("produce "))
    assert (w.offsets, w.dirty, w.outputs_since, w.commits) == ({}, False, None, 1)


def test_offsets_that_fail_abort_the_transaction_and_end_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from confluent_kafka import KafkaError, KafkaException

    from streams.engines.native import WorkerFailed

    calls = _Calls()
    fenced = KafkaException(KafkaError(KafkaError._FENCED, "fenced", txn_requires_abort=True))
    w = _committing_worker(monkeypatch, calls, offsets_error=fenced)
    with pytest.raises(WorkerFailed, match="could not commit"):
        w.commit()
    assert "commit" not in calls.log and calls.log[-1] == "abort"
    assert w.offsets == {("md.ticks.v1", 2): 41} and w.commits == 0  # nothing counted as committed


def test_offsets_that_never_return_end_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    import streams.engines.native as nw

    monkeypatch.setattr(nw, "COMMIT_TIMEOUT_S", -2.4)  # the wait is 2 * COMMIT_TIMEOUT_S + 5 = 0.2 s
    calls = _Calls()
    w = _committing_worker(monkeypatch, calls, offsets_take_s=2.0)
    with pytest.raises(nw.WorkerFailed, match="did not return"):
        w.commit()
    assert w.stuck and "commit" not in calls.log  # stuck: it leaves without committing or closing


def test_what_is_processed_during_a_commit_goes_into_the_next_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _Calls()
    w = _committing_worker(monkeypatch, calls)
    producer = w.producer
    producer.broker_acks.clear()  # the broker is slow to acknowledge
    w.start_commit()
    assert w.inflight is not None and not w.dirty and w.outputs_since is None
    # the worker goes on: a bar closes and its tick's offset moves on while the commit waits
    w._produce("md.bars.v1", b"bar", b"binance:BTC/USDT")
    w.offsets[("md.ticks.v1", 2)] = 57
    w._finish_commit(wait=False)  # not done yet: returns at once
    assert w.inflight is not None and "begin" not in calls.log
    assert "produce md.bars.v1" not in calls.log  # held: not part of the committing transaction
    producer.broker_acks.set()
    w._finish_commit(wait=True)
    assert calls.log[-3:] == ["committed", "begin", "produce md.bars.v1"]  # into the next transaction
    assert (w.commits, w.offsets, w.dirty, w.held) == (1, {("md.ticks.v1", 2): 57}, True, [])
    w.commit()
    assert "offsets done [('md.ticks.v1', 2, 57)]" in calls.log and calls.log[-2:] == ["committed", "begin"]
    assert (w.commits, w.offsets, w.dirty) == (2, {}, False)


def test_a_commit_that_fails_in_its_thread_aborts_and_ends_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from confluent_kafka import KafkaError, KafkaException

    from streams.engines.native import WorkerFailed

    calls = _Calls()
    aborted = KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", txn_requires_abort=True))
    w = _committing_worker(monkeypatch, calls, commit_error=aborted)
    w.start_commit()
    w.offsets[("md.ticks.v1", 3)] = 9  # processed meanwhile
    with pytest.raises(WorkerFailed, match="could not commit"):
        w._finish_commit(wait=True)
    assert calls.log[-1] == "abort" and "begin" not in calls.log and w.commits == 0
    assert w.offsets == {("md.ticks.v1", 2): 41, ("md.ticks.v1", 3): 9}  # nothing counted as committed


def test_held_records_are_bounded_by_waiting_for_the_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import streams.engines.native as nw

    monkeypatch.setattr(nw, "HELD_MAX", 3)
    calls = _Calls()
    w = _committing_worker(monkeypatch, calls)
    w.producer.broker_acks.clear()
    w.start_commit()
    for i in range(2):
        w._produce("mercado.deadletter.v1", b"x", str(i).encode())
    assert w.inflight is not None and len(w.held) == 2
    threading.Timer(0.1, w.producer.broker_acks.set).start()
    w._produce("mercado.deadletter.v1", b"x", b"2")  # the third waits for the commit, then all three go
    assert w.inflight is None and w.held == []
    assert calls.log[-4:] == ["begin", *["produce mercado.deadletter.v1"] * 3]


def test_the_commit_time_round_trips_through_the_offsets_metadata() -> None:
    from streams.engines.live import commit_metadata, committed_at_ms

    assert committed_at_ms(commit_metadata(1_765_000_000_123)) == 1_765_000_000_123
    # another client's metadata, none, or a damaged value: no time, never an error
    for other in (None, "", "faust", "committed_at_ms=", "committed_at_ms=12x"):
        assert committed_at_ms(other) is None
