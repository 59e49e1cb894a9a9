"""Issue #18: one bad event time must not poison a pipeline — through the real broker.

The bad events are put on the input topics *without* ``mercado produce``'s door, as another producer
would: encoded with the serde and produced with a plain confluent-kafka producer, Kafka timestamp = event
time (ms), with the ``mercado-produced-us`` stamp (wall clock now) or, for the unstamped case, without it.
The first stage of every pipeline must refuse them (``processors/runtime.py`` ``PartitionRuntime.admit``):
the live worker writes them to the dead-letter topic with their reason and the original bytes, keeps
running, and the other events give the outputs they give without the bad one; the replay refuses the
same events (``report.rejected``) and gives the live outputs.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from processors.core import PipelineSpec
from streams.config import Settings
from streams.engines.replay import KafkaRangeReader, ReplayReport, run_replay
from streams.ingest.producer import FileProducer
from streams.kafka.catalog import DEAD_LETTER_TOPIC, topic
from streams.kafka.clients import consumer_config, producer_config
from streams.kafka.consumer import data_end_offsets, default_serde, fetch_ready
from streams.kafka.headers import PRODUCED_AT_HEADER
from streams.runtime.pipelines import build_pipeline, build_stages
from tests.integration.test_marketdata_live import (
    _assert_same_as_replay,
    _Collector,
    _first_difference,
    _isolated,
    _per_key,
    _plain,
    _read_outputs,
    _start_worker,
    _stop,
)
from tests.support.workers import start_worker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
TICKS = "md.ticks.v1"
KEY = "binance:BTC/USDT"
S = 1_000_000  # µs per second


def _us(when: dt.datetime) -> int:
    return int(when.timestamp()) * S


T0 = _us(dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC))
FUTURE = _us(dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
END_OF_2026 = _us(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
# Retail and risk inputs: two days ago (the topics' retention is 30 days of event time).
RECENT_DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)


# ------------------------------------------------------------------------------------------- helpers
class RawProducer:
    """Another producer: serde-encoded records straight onto a topic (no door), remembering where each
    one landed (partition, offset) and its bytes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.serde = default_serde(settings)
        self.producer = Producer(producer_config(settings))
        self.landed: dict[str, tuple[int, int]] = {}  # event_id -> (partition, offset)
        self.values: dict[str, bytes] = {}
        self._errors: list[str] = []

    def send(self, topic_name: str, schema: str, record: dict[str, Any], *, stamped: bool = True) -> None:
        physical = self.settings.topic(topic_name)
        key = topic(topic_name).key_function(schema)(record)
        value = self.serde.encoder(schema, physical)(record)
        headers = [(PRODUCED_AT_HEADER, str(time.time_ns() // 1000).encode())] if stamped else None
        event_id = record["event_id"]
        self.values[event_id] = value

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                self._errors.append(f"{event_id}: {err}")
            else:
                self.landed[event_id] = (msg.partition(), msg.offset())

        self.producer.produce(physical, value, key.encode(), timestamp=record["event_time"] // 1000,
                              headers=headers, on_delivery=delivered)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(60) == 0, "the broker did not acknowledge every test message"
        assert not self._errors, self._errors


def _tick(seq: int, event_time: int, price: float) -> dict[str, Any]:
    return {"event_id": f"poison-tick:{seq}", "event_time": event_time, "venue": "binance", "symbol": "BTC/USDT",
            "bid": price - 0.5, "ask": price + 0.5, "last": price, "volume": 0.25 + seq / 100, "sequence": seq,
            "backfill_id": None}


def _price(seq: int) -> float:
    """Flat within a few dollars around 65,000: far below the 0.5 % move alert."""
    return 65_000.0 + (seq * 7 % 11) - 5


def _dead_letters(settings: Settings) -> list[dict[str, Any]]:
    """Every committed message of this prefix's dead-letter topic: value, key, headers."""
    physical = settings.topic(DEAD_LETTER_TOPIC)
    ends = data_end_offsets(settings, [physical])
    consumer = Consumer(consumer_config(settings, f"poison-dlq-{time.time_ns()}", **{"enable.partition.eof": False}))
    consumer.assign([TopicPartition(physical, p, OFFSET_BEGINNING) for (_t, p) in ends])
    seen = {p: 0 for (_t, p) in ends}
    want = {p: end for (_t, p), end in ends.items()}
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while any(seen[p] < want[p] for p in want):
            assert time.monotonic() < deadline, f"could not read {physical} to its end: {seen} of {want}"
            for msg in fetch_ready(consumer, 100, 0.5):
                if msg.error() is not None:
                    continue
                seen[msg.partition()] = msg.offset() + 1
                headers = {name: value for name, value in msg.headers() or []}
                out.append({"value": msg.value(), "key": msg.key(), "headers": headers,
                            "reason": headers.get("mercado.dlq.reason", b"").decode(),
                            "origin": (headers.get("mercado.dlq.topic", b"").decode(),
                                       int(headers.get("mercado.dlq.partition", b"-1")),
                                       int(headers.get("mercado.dlq.offset", b"-1")))})
    finally:
        consumer.close()
    return sorted(out, key=lambda d: d["origin"])


def _wait_until(what: str, check: Callable[[], bool], worker: subprocess.Popen, timeout_s: float = 180) -> None:
    """Polls ``check`` (not a timing assertion: the timeout is only there to end a hung test)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert worker.poll() is None, f"the worker exited with {worker.returncode}; see .mercado/worker-test.log"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class _WireCollector(_Collector):
    """The replay's outputs as a consumer reads them: each value decoded from its bytes (an exact decimal
    computed as ``Decimal("0")`` is ``0E-12`` on the wire, as the live worker's outputs read back)."""

    def __init__(self, serde: Any) -> None:
        super().__init__()
        self.serde = serde

    def write(self, outputs: list) -> None:
        for o in outputs:
            schema, record = self.serde.decode(o.value)
            self.events[o.topic].append((o.key, schema.name, _plain(record)))


def _replay(settings: Settings, stages: list[PipelineSpec], inputs: tuple[str, ...], outputs: tuple[str, ...],
            start_ms: int | None = None, end_ms: int | None = None) -> tuple[dict[str, list], ReplayReport]:
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic(t) for t in inputs], start_ms, end_ms, serde)
    sink = _WireCollector(serde)
    try:
        report = run_replay(iter(reader), stages, serde, sink)
    finally:
        reader.close()
    return {t: sink.events.get(t, []) for t in outputs}, report


def _start(settings: Settings, pipeline: str) -> subprocess.Popen:
    """``mercado worker --pipeline NAME`` (native engine) on this test's prefix."""
    return start_worker(settings, pipeline)


def _counts(events: dict[str, list]) -> dict[str, int]:
    return {t: len(v) for t, v in events.items()}


def _wait_for_outputs(settings: Settings, expected: dict[str, list], worker: subprocess.Popen,
                      timeout_s: float = 240) -> dict[str, list]:
    """The worker's committed outputs once their counts reached ``expected``'s, read once more after that
    (so a surplus shows up too)."""
    got: dict[str, list] = {}

    def reached() -> bool:
        nonlocal got
        try:
            got = _read_outputs(settings, tuple(expected))
        except KeyError:  # a topic just created may not be in the metadata yet
            return False
        return all(len(got[t]) >= len(expected[t]) for t in expected)

    _wait_until(f"outputs {_counts(expected)} (have {_counts(got)})", reached, worker, timeout_s)
    return _read_outputs(settings, tuple(expected))


def _rows(path: Path, n: int, schema_of: Callable[[dict], bool] = lambda r: True) -> list[dict[str, Any]]:
    out = []
    for line in path.open("rb"):
        row = orjson.loads(line)
        if schema_of(row):
            out.append(row)
            if len(out) == n:
                break
    return out


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


# ------------------------------------------------------------------------------------------ market data
MD_OUTPUTS = ("md.bars.v1", "md.gaps.v1", "md.indicators.v1", "md.quality.v1", "md.late-ticks.v1", "md.alerts.v1")
# Phase 1: ten ticks one second apart (the 7th dated 2999), then one every 15 s to 3 min + 3 s (the
# 1-minute bars of 15:00, 15:01 and 15:02 close). Phase 2, after a restart of the worker: to 5 min + 3 s
# (15:03 and 15:04 close, and the 5-minute bar of 15:00).
PHASE1_S = [*range(10), *range(15, 181, 15), 183]
PHASE2_S = [*range(195, 301, 15), 303]
BAD_SEQ = 6
MAX_MD_OUTPUTS = 20  # 5 one-minute bars + 1 five-minute bar + their 6 indicator sets, with room to spare


def _md_ticks(seconds: list[int], first_seq: int) -> list[dict[str, Any]]:
    ticks = []
    for seq, s in enumerate(seconds, first_seq):
        t = FUTURE if seq == BAD_SEQ else T0 + s * S
        ticks.append(_tick(seq, t, _price(seq)))
    return ticks


@pytest.fixture(scope="module")
def md_run(services: Settings) -> dict[str, Any]:
    """The live native worker over the poisoned tick stream, stopped and started again halfway."""
    settings = _isolated(services, "poison-md")
    raw = RawProducer(settings)
    phase1 = _md_ticks(PHASE1_S, 0)
    phase2 = _md_ticks(PHASE2_S, len(phase1))
    worker = _start_worker(settings, "native")
    restarted = None
    try:
        for tick in phase1:
            raw.send(TICKS, "PriceTick", tick)
        raw.flush()

        def one_minute_bars() -> int:
            bars = _read_outputs(settings, ("md.bars.v1",))["md.bars.v1"]
            return sum(1 for _, _, b in bars if b["interval_s"] == 60)

        _wait_until("the first three 1-minute bars", lambda: one_minute_bars() >= 3, worker)
        _wait_until("the dead letter", lambda: len(_dead_letters(settings)) >= 1, worker)
        alive_after_bad = worker.poll() is None
        dead_letters_phase1 = _dead_letters(settings)
        _stop(worker)
        first_exit = worker.returncode

        restarted = _start_worker(settings, "native")
        for tick in phase2:
            raw.send(TICKS, "PriceTick", tick)
        raw.flush()
        _wait_until("the bars of phase 2", lambda: len(_read_outputs(settings, ("md.bars.v1",))["md.bars.v1"]) >= 6,
                    restarted)
        live = _read_outputs(settings, MD_OUTPUTS)
        dead_letters = _dead_letters(settings)
        alive_after_restart = restarted.poll() is None
    finally:
        _stop(worker)
        if restarted is not None:
            _stop(restarted)
    return {"settings": settings, "raw": raw, "ticks": phase1 + phase2, "live": live,
            "dead_letters_phase1": dead_letters_phase1, "dead_letters": dead_letters,
            "alive_after_bad": alive_after_bad, "first_exit": first_exit, "alive_after_restart": alive_after_restart}


def _bar_of(ticks: list[dict[str, Any]], start: int, interval_s: int) -> dict[str, Any]:
    inside = sorted((t for t in ticks if start <= t["event_time"] < start + interval_s * S),
                    key=lambda t: t["event_time"])
    prices = [t["last"] for t in inside]
    return {"open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1],
            "tick_count": len(inside), "volume": pytest.approx(sum(t["volume"] for t in inside))}


def test_marketdata_worker_dead_letters_the_2999_tick_and_keeps_going(md_run: dict[str, Any]) -> None:
    settings, raw, live = md_run["settings"], md_run["raw"], md_run["live"]
    bad = md_run["ticks"][BAD_SEQ]
    assert bad["event_time"] == FUTURE
    bad_partition, bad_offset = raw.landed[bad["event_id"]]

    # The worker lived through it, and after a stop and a start it keeps processing (no crash loop).
    assert md_run["alive_after_bad"], "the worker died on the 2999 tick"
    assert md_run["alive_after_restart"], "the restarted worker died"

    # Exactly one dead letter, the bad tick's, with its reason, origin and original bytes and headers;
    # the restarted worker did not dead-letter it again.
    [dl] = md_run["dead_letters_phase1"]
    assert md_run["dead_letters"] == md_run["dead_letters_phase1"]
    assert dl["reason"] == "event-time-ahead"
    assert dl["origin"] == (settings.topic(TICKS), bad_partition, bad_offset)
    assert dl["value"] == raw.values[bad["event_id"]]
    assert dl["key"] == KEY.encode()
    assert PRODUCED_AT_HEADER in dl["headers"]
    assert "2999-01-01" in dl["headers"]["mercado.dlq.error"].decode()

    # The normal 1-minute bars of the real ticks (and the 5-minute bar), computed from the ticks.
    real = [t for t in md_run["ticks"] if t["event_time"] != FUTURE]
    bars = [b for _, _, b in live["md.bars.v1"]]
    one_minute = sorted((b for b in bars if b["interval_s"] == 60), key=lambda b: b["start"])
    assert [b["start"] for b in one_minute] == [T0 + m * 60 * S for m in range(5)]
    assert all(b["revision"] == 0 and b["end"] == b["start"] + 60 * S for b in one_minute)
    for b in one_minute:
        want = _bar_of(real, b["start"], 60)
        assert {k: b[k] for k in want} == want, b
    assert one_minute[0]["tick_count"] == 9 + 3  # 15:00:00–09 without the bad one, then :15, :30, :45
    five_minute = [b for b in bars if b["interval_s"] == 300]
    assert [b["start"] for b in five_minute] == [T0]
    want = _bar_of(real, T0, 300)
    assert {k: five_minute[0][k] for k in want} == want
    assert want["tick_count"] == len(real) - 2  # all but those at 15:05:00 and 15:05:03

    # Nothing reaches into the future: no gap at all (every minute has ticks), no late tick, no data
    # quality hour (15:00 has not closed), every output's event time in 2026.
    assert live["md.gaps.v1"] == []
    assert live["md.late-ticks.v1"] == []
    assert live["md.quality.v1"] == []
    for topic_name, events in live.items():
        assert all(rec["event_time"] < END_OF_2026 for _, _, rec in events), topic_name
    total = sum(len(v) for v in live.values())
    assert total <= MAX_MD_OUTPUTS, _counts(live)


def test_marketdata_replay_refuses_the_same_tick_and_equals_live(md_run: dict[str, Any]) -> None:
    settings = md_run["settings"]
    expected, report = _replay(settings, [build_pipeline("marketdata", settings)], (TICKS,), MD_OUTPUTS)
    assert report.rejected == 1
    assert report.inputs == len(md_run["ticks"]) - 1
    _assert_same_as_replay(md_run["live"], expected, MD_OUTPUTS)


def test_marketdata_replay_of_a_time_range_is_not_cut_short_by_the_2999_tick(md_run: dict[str, Any]) -> None:
    """``mercado replay --from 15:00 --to 16:00`` must give what the whole-topic replay gives: the range's
    end is looked up by timestamp (``offsets_for_times``), and the refused 2999 tick must not end it."""
    settings = md_run["settings"]
    stages = [build_pipeline("marketdata", settings)]
    whole, _ = _replay(settings, stages, (TICKS,), MD_OUTPUTS)
    ranged, report = _replay(settings, stages, (TICKS,), MD_OUTPUTS, start_ms=T0 // 1000,
                             end_ms=(T0 + 3600 * S) // 1000)
    # every real tick is in the range; the 2999 tick is not (the reader filters by timestamp)
    assert (report.inputs, report.rejected) == (len(md_run["ticks"]) - 1, 0)
    assert _counts(ranged) == _counts(whole)


def test_unstamped_jump_and_pre_floor_ticks_are_dead_lettered(services: Settings) -> None:
    """Without the producer's stamp, a tick 30 days ahead of its partition's clock is refused
    (``event-time-jump``) and moves no clock; a tick of 1970 (µs read as s) is refused
    (``event-time-floor``). The ticks around them make the bars they make without them."""
    settings = _isolated(services, "poison-jump")
    raw = RawProducer(settings)
    seconds = [0, 10, 20, 30, "jump", 40, 50, 60, 70, "floor", 80, 90, 125]
    ticks = []
    for seq, s in enumerate(seconds):
        t = T0 + 30 * 86_400 * S if s == "jump" else 1_700_000 if s == "floor" else T0 + s * S
        ticks.append(_tick(seq, t, _price(seq)))
    jump, floor = ticks[4], ticks[9]
    worker = _start(settings, "marketdata")
    try:
        for tick in ticks:
            raw.send(TICKS, "PriceTick", tick, stamped=False)
        raw.flush()

        def bars() -> list[dict]:
            return [b for _, _, b in _read_outputs(settings, ("md.bars.v1",))["md.bars.v1"]]

        _wait_until("the two 1-minute bars", lambda: len(bars()) >= 2, worker)
        _wait_until("two dead letters", lambda: len(_dead_letters(settings)) >= 2, worker)
        live = _read_outputs(settings, MD_OUTPUTS)
        dead_letters = _dead_letters(settings)
        assert worker.poll() is None, "the worker died"
    finally:
        _stop(worker)

    physical = settings.topic(TICKS)
    assert [(d["reason"], d["origin"]) for d in dead_letters] == [
        ("event-time-jump", (physical, *raw.landed[jump["event_id"]])),
        ("event-time-floor", (physical, *raw.landed[floor["event_id"]])),
    ]
    assert [d["value"] for d in dead_letters] == [raw.values[jump["event_id"]], raw.values[floor["event_id"]]]
    assert all(PRODUCED_AT_HEADER not in d["headers"] for d in dead_letters)

    real = [t for t in ticks if t not in (jump, floor)]
    one_minute = sorted((b for _, _, b in live["md.bars.v1"] if b["interval_s"] == 60), key=lambda b: b["start"])
    assert [b["start"] for b in one_minute] == [T0, T0 + 60 * S]
    assert [b["tick_count"] for b in one_minute] == [6, 4]
    for b in one_minute:
        want = _bar_of(real, b["start"], 60)
        assert {k: b[k] for k in want} == want
    assert live["md.gaps.v1"] == [] and live["md.late-ticks.v1"] == [] and live["md.quality.v1"] == []

    expected, report = _replay(settings, [build_pipeline("marketdata", settings)], (TICKS,), MD_OUTPUTS)
    assert report.rejected == 2
    _assert_same_as_replay(live, expected, MD_OUTPUTS)


# ----------------------------------------------------------------------------------------- retail, risk
def _poisoned_and_reference(
    services: Settings, tmp_path: Path, name: str, parts: dict[str, tuple[list[dict], list[dict]]],
    bad_topic: str, bad_schema: str, bad: dict[str, Any],
) -> tuple[Settings, Settings, RawProducer]:
    """Two prefixes: the poisoned one gets, per input topic, the first part of its rows, then (on
    ``bad_topic``) the bad record produced without the door, then the second part; the reference gets
    the same rows without the bad record."""
    poisoned = _isolated(services, f"{name}-bad")
    reference = _isolated(services, f"{name}-ref")
    raw = RawProducer(poisoned)
    for topic_name, (first, second) in parts.items():
        slug = topic_name.replace(".", "-")
        FileProducer(poisoned, topic_name).produce_file(_write_jsonl(tmp_path / f"{slug}-1.jsonl", first))
        if topic_name == bad_topic:
            raw.send(bad_topic, bad_schema, bad)
            raw.flush()
        FileProducer(poisoned, topic_name).produce_file(_write_jsonl(tmp_path / f"{slug}-2.jsonl", second))
        FileProducer(reference, topic_name).produce_file(_write_jsonl(tmp_path / f"{slug}.jsonl", first + second))
    return poisoned, reference, raw


def _run_pipeline_over_poison(
    pipeline: str, poisoned: Settings, reference: Settings, inputs: tuple[str, ...],
) -> dict[str, Any]:
    stages = build_stages(pipeline, poisoned)
    outputs = tuple(dict.fromkeys(t for st in stages for t in st.outputs))
    worker = _start(poisoned, pipeline)  # works while this process runs the two replays
    try:
        with_bad, report = _replay(poisoned, stages, inputs, outputs)
        without_bad, ref_report = _replay(reference, build_stages(pipeline, reference), inputs, outputs)
        live = _wait_for_outputs(poisoned, with_bad, worker)
        _wait_until("the dead letter", lambda: len(_dead_letters(poisoned)) >= 1, worker)
        dead_letters = _dead_letters(poisoned)
        alive = worker.poll() is None
    finally:
        _stop(worker)
    return {"outputs": outputs, "live": live, "with_bad": with_bad, "report": report, "without_bad": without_bad,
            "ref_report": ref_report, "dead_letters": dead_letters, "alive": alive}


def _assert_dead_lettered(run: dict[str, Any], settings: Settings, raw: RawProducer, topic_name: str,
                          bad: dict[str, Any]) -> None:
    assert run["alive"], "the worker died"
    [dl] = run["dead_letters"]
    assert dl["reason"] == "event-time-ahead"
    assert dl["origin"] == (settings.topic(topic_name), *raw.landed[bad["event_id"]])
    assert dl["value"] == raw.values[bad["event_id"]]
    assert run["report"].rejected == 1 and run["ref_report"].rejected == 0
    assert run["report"].inputs == run["ref_report"].inputs


def _assert_same_per_key(got: dict[str, list], want: dict[str, list], outputs: tuple[str, ...], what: str) -> None:
    differing = [_first_difference(t, _per_key(got[t]), _per_key(want[t]))
                 for t in outputs if _per_key(got[t]) != _per_key(want[t])]
    assert not differing, f"{what}:\n" + "\n".join(differing)


REPARTITIONS = frozenset({"risk.inputs.v1", "retail.by-block.v1", "retail.matches.v1"})


def _assert_live_as_replay(live: dict[str, list], want: dict[str, list], outputs: tuple[str, ...], what: str) -> None:
    """Live outputs equal the replay's per key, in order, with no id twice; a repartition topic holds the
    same events once each (its log order is its writers'; the next stage reads it in position order,
    docs/architecture.md "Scale-out")."""
    _assert_same_per_key(live, want, tuple(t for t in outputs if t not in REPARTITIONS), what)
    for t in outputs:
        ids = [r["event_id"] for _, _, r in live[t]]
        assert len(ids) == len(set(ids)), f"{what}: duplicates in {t}"
        if t in REPARTITIONS:
            assert sorted(ids) == sorted(r["event_id"] for _, _, r in want[t]), f"{what}: {t} differs"


@pytest.fixture(scope="module")
def retail_run(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """40 listings of a generated day; a copy of the 26th listing dated 2999 (event and observation
    time) goes on the topic between the first 20 and the other 20 (so listings of its partition follow it)."""
    from streams.generator import generate_day

    tmp = tmp_path_factory.mktemp("poison-retail")
    generate_day(tmp, 7, RECENT_DAY, domains=("retail",))
    rows = _rows(tmp / "retail.listings.v1.jsonl", 40)
    bad = {**rows[25], "event_id": "poison:listing:2999", "event_time": FUTURE, "observed_at": FUTURE}
    bad = {k: v for k, v in bad.items() if k != "type"}
    poisoned, reference, raw = _poisoned_and_reference(
        services, tmp, "poison-retail", {"retail.listings.v1": (rows[:20], rows[20:])},
        "retail.listings.v1", "RetailListing", bad)
    run = _run_pipeline_over_poison("retail", poisoned, reference, ("retail.listings.v1",))
    return {**run, "settings": poisoned, "raw": raw, "bad": bad}


def test_retail_worker_dead_letters_a_2999_listing_and_equals_the_replay(retail_run: dict[str, Any]) -> None:
    run = retail_run
    _assert_dead_lettered(run, run["settings"], run["raw"], "retail.listings.v1", run["bad"])
    assert len(run["live"]["retail.listings.normalized.v1"]) >= 30
    _assert_live_as_replay(run["live"], run["with_bad"], run["outputs"], "live vs replay")


def test_retail_outputs_are_those_without_the_bad_listing(retail_run: dict[str, Any]) -> None:
    """The refused listing's Kafka timestamp (2999) must not reorder the others: the replay merges its
    input partitions by timestamp and the live worker orders by positions built the same way, so by its timestamp the
    listings behind it in its partition would go last; both merges order it first (streams/runtime/align.py
    merge_key)."""
    run = retail_run
    _assert_same_per_key(run["with_bad"], run["without_bad"], run["outputs"], "replay with vs without the listing")
    _assert_live_as_replay(run["live"], run["without_bad"], run["outputs"], "live with vs replay without")


@pytest.fixture(scope="module")
def risk_run(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first twelve minutes of a generated day's orders and venue health probes; a binance health probe
    dated 2999 goes on the topic after the first two minutes' probes (binance probes follow it in its
    partition, and binance orders come after it in event time)."""
    from streams.codec.coerce import timestamp_micros
    from streams.generator import generate_day

    tmp = tmp_path_factory.mktemp("poison-risk")
    generate_day(tmp, 42, RECENT_DAY, domains=("orders",))
    day0 = _us(dt.datetime.combine(RECENT_DAY, dt.time(), dt.UTC))

    def before(minutes: int) -> Callable[[dict], bool]:
        return lambda r: timestamp_micros(r["event_time"]) < day0 + minutes * 60 * S

    orders = _rows(tmp / "trading.orders.v1.jsonl", 10**9, before(12))
    health = _rows(tmp / "trading.venue-health.v1.jsonl", 10**9, before(12))
    split = sum(1 for r in health if before(2)(r))
    assert orders and split and len(health) > split
    assert any(r["venue"] == "binance" and not before(2)(r) for r in orders)
    bad = {"event_id": "poison:binance:ping", "event_time": FUTURE, "venue": "binance", "probe": "ping",
           "latency_ms": 12.5, "ok": True, "error": None}
    poisoned, reference, raw = _poisoned_and_reference(
        services, tmp, "poison-risk",
        {"trading.orders.v1": (orders, []), "trading.venue-health.v1": (health[:split], health[split:])},
        "trading.venue-health.v1", "VenueHealth", bad)
    run = _run_pipeline_over_poison("risk", poisoned, reference, ("trading.orders.v1", "trading.venue-health.v1",
                                                                   TICKS))
    return {**run, "settings": poisoned, "raw": raw, "bad": bad}


def test_risk_worker_dead_letters_a_2999_health_probe_and_equals_the_replay(risk_run: dict[str, Any]) -> None:
    run = risk_run
    _assert_dead_lettered(run, run["settings"], run["raw"], "trading.venue-health.v1", run["bad"])
    assert run["live"]["risk.order-decisions.v1"], "no order decisions"
    _assert_live_as_replay(run["live"], run["with_bad"], run["outputs"], "live vs replay")


def test_risk_outputs_are_those_without_the_bad_probe(risk_run: dict[str, Any]) -> None:
    """As for retail: the refused probe's Kafka timestamp must not move the probes behind it to the end."""
    run = risk_run
    _assert_same_per_key(run["with_bad"], run["without_bad"], run["outputs"], "replay with vs without the probe")
    _assert_live_as_replay(run["live"], run["without_bad"], run["outputs"], "live with vs replay without")

