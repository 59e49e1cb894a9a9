"""Watermarks on a topic one pipeline writes and another reads, on the real broker (docs/architecture.md,
"Watermarks in the log"): the risk gate's decisions, written by every task of the risk stage, read by the
paper venue. Both pipelines run as two workers each, at the same time, the loop closed (the venue's fills
go back to the risk gate), while the input arrives in parts as a live feed writes it (ticks and
submissions, each part ended by the producer's strict watermark). The paper venue's outputs equal the
replay of its inputs as they ended up in the log: the same events, the same order per key, no event id twice
— at the live edge, with the default ``merge_idle_ms``, whatever the timing."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from processors import topics
from processors.risk import RiskConfig
from processors.risk.config import AccountVenueConfig
from processors.venue import PaperVenueConfig
from streams.config import Settings
from streams.ingest.producer import TYPE_COLUMN, FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.compacted import read_topic_to_end
from streams.kafka.headers import is_marker, read_writer_watermark
from tests.integration.test_paper_venue_kafka import assert_paper_as_replayed, paper_events, replay_paper
from tests.integration.test_scale_out_kafka import _keys_on_every_partition, _paper_day, _wait_until, _Workers

pytestmark = pytest.mark.kafka

MINUTES = 6
PARTS = 6


def _produce_part(settings: Settings, events: list[tuple[str, dict]], until_us: int, tmp: Path, n: int) -> None:
    """One part of the day, as a live feed writes it: the rows, then its strict watermark (complete to
    ``until_us``) on every partition of each topic."""
    by_topic: dict[str, list[bytes]] = {topics.TICKS: [], topics.ORDERS: []}
    for schema, record in events:
        by_topic[topics.TICKS if schema == "PriceTick" else topics.ORDERS].append(
            orjson.dumps({TYPE_COLUMN: schema, **record}, default=str) + b"\n")
    for name, rows in by_topic.items():
        producer = FileProducer(settings, name)
        if rows:
            path = tmp / f"part{n}.{name}.jsonl"
            path.write_bytes(b"".join(rows))
            producer.produce_file(path)
        producer.announce_watermark(until_us // 1000 - 1, strict=True)
        producer.flush()


def _count(settings: Settings, name: str, keep: object) -> int:
    return sum(1 for m in read_topic_to_end(settings, [settings.topic(name)]) if keep(m))  # type: ignore[operator]


def _loop_settings(services: Settings, pattern: str, name: str) -> tuple[Settings, list[str]]:
    """Settings under a prefix of their own (topics created) for a risk gate and paper venue trading three
    symbols whose keys cover the three partitions, and the symbols."""
    symbols = [key.removeprefix("binance:") for key in _keys_on_every_partition(pattern, 3)]
    risk = RiskConfig(accounts={"mm-1": {"binance": AccountVenueConfig(
        balances={"USDT": Decimal(10_000_000), **{s.split("/")[0]: Decimal(1_000_000) for s in symbols}})}},
        mark_update_s=3600)
    paper = PaperVenueConfig(latency_ms=50, max_fill_quantity=Decimal("0.4"), time_in_force_s=120)
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.{name}."
    settings = services.with_({"kafka__topic_prefix": prefix, "risk": risk, "paper": paper})
    ensure_topics(settings)
    return settings, symbols


def test_the_paper_venue_on_the_live_risk_gates_decisions_equals_its_replay(services: Settings, tmp_path: Path) -> None:
    settings, symbols = _loop_settings(services, "binance:P{}/USDT", "announced")
    events = _paper_day(symbols, MINUTES * 60)
    orders = sum(1 for schema, _ in events if schema == "OrderSubmitted")
    start = events[0][1]["event_time"]
    span = (events[-1][1]["event_time"] + 1 - start) // PARTS + 1
    parts = [[e for e in events if start + i * span <= e[1]["event_time"] < start + (i + 1) * span]
             for i in range(PARTS)]
    for name in (topics.TICKS, topics.ORDERS):  # a live feed announces from its start on: strict from offset 0
        producer = FileProducer(settings, name)
        producer.announce_watermark(start // 1000 - 1, strict=True)
        producer.flush()
    gate, venue = _Workers(settings, tmp_path, "risk"), _Workers(settings, tmp_path, "venue-paper")
    try:
        for workers in (gate, venue):
            workers.start(f"{workers.pipeline}-a")
            workers.start(f"{workers.pipeline}-b")
        for i, part in enumerate(parts):
            last = i == PARTS - 1
            # the last part's watermark is past every event (the feed's end): everything may go
            _produce_part(settings, part, start + (i + 1) * span + (3_600_000_000 if last else 0), tmp_path, i)
            if not last:  # the next part arrives while both groups work on this one
                _wait_until(gate, lambda i=i: _count(settings, topics.DECISIONS, lambda m: m.value() is not None)
                            > orders * (i + 0.5) / PARTS, f"decisions of part {i}", 120)
        _wait_until(gate, lambda: _count(settings, topics.DECISIONS, lambda m: m.value() is not None) >= orders,
                    "every decision", 120)
        # each risk task announced its watermark on every partition of the decisions, several tasks per partition
        writers = {(m.partition(), read_writer_watermark(None, m.headers())[:2])
                   for m in read_topic_to_end(settings, [settings.topic(topics.DECISIONS)])
                   if read_writer_watermark(m.value(), m.headers()) is not None}
        assert {w for _, w in writers} == {(settings.topic(topics.RISK_INPUTS), q) for q in range(3)}
        assert {p for p, _ in writers} == {0, 1, 2}
        expected = replay_paper(settings)  # the decisions and the ticks are all in the log now
        n, m = len(expected[topics.ORDERS]), len(expected[topics.PAPER_INPUTS])
        # both outputs: the rekey stage forwards the ticks after the last one that causes a lifecycle event
        # (on other partitions, maybe on the other worker) after that event can be written
        def venue_done() -> bool:
            lifecycle = _count(settings, topics.ORDERS, lambda msg: not is_marker(msg.value(), msg.headers())) - orders
            return lifecycle >= n and _count(settings, topics.PAPER_INPUTS, lambda msg: msg.value() is not None) >= m

        _wait_until(venue, venue_done, f"the paper venue's {n} lifecycle events and {m} inputs", 120)
        live = paper_events(settings)
        # a worker's first assignment can be logged after the other finished the (small) input: wait for it
        _wait_until(gate, lambda: bool(gate.assignments("risk-a") and gate.assignments("risk-b")),
                    "both risk workers assigned")
        _wait_until(venue, lambda: bool(venue.assignments("venue-paper-a") and venue.assignments("venue-paper-b")),
                    "both paper venue workers assigned")
    finally:
        gate.close()
        venue.close()
    fills = sum(1 for _, s, _ in expected[topics.ORDERS] if s == "OrderFilled")
    assert fills > 100, fills
    assert_paper_as_replayed(live, expected)


def test_the_demos_paper_loop_gives_the_replays_fills(services: Settings, tmp_path: Path) -> None:
    """``mercado demo``'s paper loop (streams/commands/demo_paper.py ``close_the_loop``: a risk worker and a
    paper-venue worker, the input in event-time slices each produced once the loop settled on the one before
    and announced complete by a strict watermark) on four minutes of three symbols: the fills, and every
    lifecycle event, are the replay's."""
    from rich.console import Console

    from streams.commands.demo_paper import close_the_loop
    from streams.generator.clock import iso

    settings, symbols = _loop_settings(services, "binance:D{}/USDT", "demo-loop")
    events = _paper_day(symbols, 4 * 60)
    rows: dict[str, list[bytes]] = {topics.TICKS: [], topics.ORDERS: [], topics.VENUE_HEALTH: []}
    for schema, record in events:  # as the generator writes them: event_time as UTC text
        rows[topics.TICKS if schema == "PriceTick" else topics.ORDERS].append(orjson.dumps(
            {TYPE_COLUMN: schema, **record, "event_time": iso(record["event_time"])}, default=str) + b"\n")
    start, end = events[0][1]["event_time"], events[-1][1]["event_time"] + 1
    assert close_the_loop(settings, Console(quiet=True), tmp_path, rows, start, end, settings.risk.model_dump_json(),
                          settings.paper, tmp_path, timeout_s=100, slice_us=60_000_000)
    expected = replay_paper(settings)
    live = paper_events(settings)
    fills = sum(1 for _, s, _ in expected[topics.ORDERS] if s == "OrderFilled")
    assert fills > 50, fills
    assert_paper_as_replayed(live, expected)
