"""The demo's paper-venue step: the market maker's loop closed through Kafka on a generated session.

The generator writes the day's orders as submissions only (``order_flow="submissions"``: nothing accepted or
filled by it); an hour of the day around its crash (ticks, venue health, submissions) is produced in
event-time slices to topics of its own. The risk worker decides each order (risk.order-decisions.v1), the
paper-venue worker fills the approved ones against the ticks and writes their lifecycle to trading.orders.v1,
and the risk worker books those fills (positions, equity, the breakers). Each slice is produced once the loop
has settled on the previous one, so the gate decides a slice's orders knowing the fills of the slices before
(within a slice it decides before they exist, as a live gate does before its venue answers).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from processors import topics
from processors.venue import PaperVenueConfig
from streams.commands.demo_pipelines import start_worker, stop_process
from streams.config import Settings

MINUTE_US = 60_000_000
SLICE_US = 15 * MINUTE_US  # event time produced at once
BEFORE_CRASH_US = 10 * MINUTE_US
AFTER_CUT_US = 5 * MINUTE_US
INPUTS = (topics.TICKS, topics.VENUE_HEALTH, topics.ORDERS)
# The venue: 50 ms away, 5 bps taker / 1 bp maker; a tick offers 0.25 of a base unit per side (BTC quotes fill
# at once, ETH ones over several ticks); what is unfilled after a minute is canceled (EXPIRED) — the
# generator's own quotes are refreshed every 20 to 75 s.
PAPER = PaperVenueConfig(latency_ms=50, time_in_force_s=60, max_fill_quantity=Decimal("0.25"))


def run_paper_loop(settings: Settings, console: Console, day: dt.date, seed: int, timeout_s: float = 600) -> int:
    from streams.generator import generate_day
    from streams.generator.clock import iso
    from streams.generator.trading.risk_setup import day_config
    from streams.kafka.admin import ensure_topics

    data_dir = settings.local.state_dir / "demo" / f"paper-{day.isoformat()}-seed{seed}"
    with console.status("paper venue: generating the day's order flow as submissions only…"):
        manifest = generate_day(data_dir, seed, day, domains=("crypto", "orders"), order_flow="submissions")
    crash = manifest.scenario["crypto"]["crash"]
    start = _us(crash["start"]) - BEFORE_CRASH_US
    end = _us(manifest.scenario["orders"]["drawdown_cut"]["at"]) + AFTER_CUT_US
    rows = {t: _rows_between(data_dir / f"{t}.jsonl", iso(start), iso(end)) for t in INPUTS}
    paper_settings = settings.with_(kafka__topic_prefix=f"{settings.kafka.topic_prefix}paper.")
    ensure_topics(paper_settings)
    console.print(
        f"paper venue: {iso(start)[11:19]}-{iso(end)[11:19]} UTC of {day} (the crash and the drawdown cut), "
        f"{len(rows[topics.ORDERS]):,} orders submitted, {len(rows[topics.TICKS]):,} ticks, through risk gate → "
        f"mercado venue paper → fills → positions → breakers (topics {paper_settings.kafka.topic_prefix}*)",
        highlight=False)

    started = time.perf_counter()
    if not close_the_loop(paper_settings, console, data_dir, rows, start, end, day_config().model_dump_json(),
                          PAPER, settings.local.state_dir / "logs", timeout_s):
        return 1
    elapsed = time.perf_counter() - started
    return _report(paper_settings, console, len(rows[topics.ORDERS]), elapsed)


def close_the_loop(settings: Settings, console: Console, data_dir: Path, rows: dict[str, list[bytes]], start: int,
                   end: int, risk_json: str, paper: PaperVenueConfig, logs: Path, timeout_s: float,
                   slice_us: int = SLICE_US) -> bool:
    """A risk worker and a paper-venue worker while ``rows`` (per input, JSON lines whose ``event_time`` is the
    generator's UTC text) from ``start`` to ``end`` (µs) arrive in slices of ``slice_us``, each once the loop
    settled on the one before, each announced complete by a strict watermark. False: it did not settle."""
    from streams.generator.clock import iso

    env = {"MERCADO_METRICS__PORT_WORKER": "0", "MERCADO_WORKER__COMMIT_INTERVAL_S": "0.05"}
    risk = start_worker(settings, "risk", logs / "demo-paper-risk.log", {**env, "MERCADO_RISK": risk_json})
    venue = start_worker(settings, "venue-paper", logs / "demo-paper-venue.log",
                         {**env, "MERCADO_PAPER": paper.model_dump_json()})
    started = time.perf_counter()
    loop = _Loop(settings)
    try:
        _announce(settings, start)  # complete to the start: every input is strict from its first record
        slices = range(start, end, slice_us)
        with console.status("paper venue: the loop…") as st:
            for n, at in enumerate(slices, 1):
                st.update(f"paper venue: slice {n}/{len(slices)} ({iso(at)[11:16]} UTC)")
                _produce_slice(settings, data_dir, rows, iso(at), iso(min(at + slice_us, end)))
                # the slice is complete, as a live feed announces its clock (the last one: past every event)
                _announce(settings, min(at + slice_us, end) + (AFTER_CUT_US if at + slice_us >= end else 0))
                if not loop.settle((risk, venue), started + timeout_s):
                    console.print(f"[bold red]the paper venue's loop did not settle[/] (logs: {logs}/demo-paper-*.log)")
                    return False
    finally:
        loop.close()
        stop_process(risk)
        stop_process(venue)
    return True


def _us(text: str) -> int:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _rows_between(path: Path, start: str, end: str) -> list[bytes]:
    """The file's lines with ``start <= event_time < end`` (the generator's fixed-width UTC text sorts as time)."""
    return [line for line in path.read_bytes().splitlines(keepends=True)
            if start <= orjson.loads(line)["event_time"] < end]


def _produce_slice(settings: Settings, data_dir: Path, rows: dict[str, list[bytes]], start: str, end: str) -> None:
    from streams.ingest.producer import FileProducer

    for topic_name in INPUTS:
        lines = [line for line in rows[topic_name] if start <= orjson.loads(line)["event_time"] < end]
        if lines:
            path = data_dir / f"slice.{topic_name}.jsonl"
            path.write_bytes(b"".join(lines))
            FileProducer(settings, topic_name).produce_file(path)


def _announce(settings: Settings, until_us: int) -> None:
    """Strict watermarks (docs/architecture.md, "Watermarks in the log"): every input is complete before
    ``until_us``. With them (and the risk tasks' own on the decisions) neither worker passes an input on a
    timer, so the loop's results are the replay's whatever the timing."""
    from streams.ingest.producer import FileProducer

    for topic_name in INPUTS:
        producer = FileProducer(settings, topic_name)
        producer.announce_watermark(until_us // 1000 - 1, strict=True)
        producer.flush()


class _Loop:
    """Whether both workers' groups have committed every message of every stage's inputs. The venue's fills
    feed the risk worker, whose decisions feed the venue: settled is both caught up, and nothing written for a
    second. (``data_end_offsets`` reads one partition at a time, ~12 s for the two pipelines' 27 partitions
    here; this reads the tails of all of them in one assignment, and only of the partitions that moved.)"""

    TAIL = 64  # messages: a partition's last data message is among them (transaction markers follow data)

    def __init__(self, settings: Settings):
        from confluent_kafka import Consumer

        from streams.engines.live import group_id
        from streams.kafka.clients import committed_reader_config, consumer_config
        from streams.runtime.pipelines import build_stages

        self.groups = []
        for pipeline in ("risk", "venue-paper"):
            inputs = sorted({settings.topic(t) for stage in build_stages(pipeline, settings) for t in stage.inputs})
            self.groups.append((inputs, Consumer(committed_reader_config(settings, group_id(settings, pipeline)))))
        self.reader = Consumer(consumer_config(settings, f"mercado-demo-paper-{time.time_ns()}"))
        self.data_ends: dict[tuple[str, int], tuple[int, int]] = {}  # partition -> (high watermark, data end)
        self.partitions: dict[str, list[int]] = {}

    def close(self) -> None:
        for _, consumer in self.groups:
            consumer.close()
        self.reader.close()

    def _data_ends(self, highs: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        from confluent_kafka import KafkaError, TopicPartition

        moved = {tp: high for tp, high in highs.items() if high and self.data_ends.get(tp, (None,))[0] != high}
        if moved:
            last: dict[tuple[str, int], int] = {}
            self.reader.assign([TopicPartition(t, p, max(0, high - self.TAIL)) for (t, p), high in moved.items()])
            at_end: set[tuple[str, int]] = set()
            deadline = time.monotonic() + 30
            while len(at_end) < len(moved) and time.monotonic() < deadline:
                msg = self.reader.poll(1)
                if msg is None:
                    continue
                tp = (msg.topic(), msg.partition())
                if msg.error() is None:
                    last[tp] = msg.offset() + 1
                elif msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(tp)
            self.reader.unassign()
            for tp, high in moved.items():
                if tp in at_end:  # (a transaction marker follows a message of its transaction: the tail has one)
                    self.data_ends[tp] = (high, last.get(tp, 0))
        return {tp: self.data_ends[tp][1] if high else 0 for tp, high in highs.items()
                if not high or self.data_ends.get(tp, (None,))[0] == high}

    def settle(self, workers: tuple[Any, ...], deadline: float) -> bool:
        """True once settled; False when a worker exits or the deadline (``time.perf_counter``) passes."""
        from confluent_kafka import TopicPartition

        quiet_since: float | None = None
        last_highs: dict[tuple[str, int], int] | None = None
        while time.perf_counter() < deadline and all(w.poll() is None for w in workers):
            caught_up = True
            highs: dict[tuple[str, int], int] = {}
            for inputs, consumer in self.groups:
                group_highs = {}
                for t in inputs:
                    for p in self.partitions.setdefault(t, self._partitions(t)):
                        group_highs[(t, p)] = self.reader.get_watermark_offsets(TopicPartition(t, p), timeout=5)[1]
                ends = self._data_ends(group_highs)
                committed = consumer.committed([TopicPartition(t, p) for t, p in group_highs], timeout=10)
                caught_up &= len(ends) == len(group_highs) and all(
                    max(tp.offset, 0) >= ends[(tp.topic, tp.partition)] for tp in committed)
                highs.update(group_highs)
            if caught_up and highs == last_highs:
                if quiet_since is not None and time.perf_counter() - quiet_since >= 1.0:
                    return True
                quiet_since = quiet_since or time.perf_counter()
            else:
                quiet_since = None
            last_highs = highs
            time.sleep(0.2)
        return False

    def _partitions(self, topic_name: str) -> list[int]:
        return sorted(self.reader.list_topics(topic_name, timeout=10).topics[topic_name].partitions)


@dataclass(frozen=True)
class LoopSummary:
    """What the gate and the venue did with the submitted orders (orders by client order id)."""

    approved: int
    refused: dict[str, int]  # by the gate, per reason
    fills: int  # OrderFilled events
    filled: int  # orders filled whole (in one fill or several)
    partially_filled: int  # orders with fills that did not reach their quantity (expired, canceled or open)
    expired_unfilled: int  # canceled (time in force, an operator) before any fill
    open: int  # approved, neither filled whole nor ended at the venue
    venue_rejected: int


def summarize(decisions: list[tuple[str, dict[str, Any]]], lifecycle: list[tuple[str, dict[str, Any]]]
              ) -> LoopSummary:
    """``decisions``: risk.order-decisions.v1 as (record type, record); ``lifecycle``: trading.orders.v1, of
    which only the paper venue's events (ids ``paper:…``) count."""
    quantity = {r["client_order_id"]: Decimal(str(r["quantity"])) for s, r in decisions if s == "OrderApproved"}
    refused = Counter(r["reason"] for s, r in decisions if s == "OrderRejected")
    filled: dict[str, Decimal] = defaultdict(Decimal)
    ended: dict[str, str] = {}
    fills = 0
    for s, r in lifecycle:
        if not r["event_id"].startswith("paper:"):
            continue  # the submissions
        if s == "OrderFilled":
            fills += 1
            filled[r["client_order_id"]] += Decimal(str(r["fill_quantity"]))
        elif s in ("OrderCanceled", "OrderRejected"):
            ended[r["client_order_id"]] = s
    whole = {coid for coid, q in filled.items() if q == quantity.get(coid)}
    return LoopSummary(
        approved=len(quantity), refused=dict(refused), fills=fills, filled=len(whole),
        partially_filled=len(filled) - len(whole),
        expired_unfilled=sum(1 for coid, s in ended.items() if s == "OrderCanceled" and coid not in filled),
        open=sum(1 for coid in quantity if coid not in ended and coid not in whole),
        venue_rejected=sum(1 for s in ended.values() if s == "OrderRejected"),
    )


def _report(settings: Settings, console: Console, submitted: int, elapsed: float) -> int:
    from streams.kafka.consumer import EventConsumer

    wanted = (topics.DECISIONS, topics.ORDERS, topics.POSITIONS, topics.BREAKERS, topics.TRADING_STATE)
    physical = {settings.topic(t): t for t in wanted}
    got: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    with EventConsumer(settings, list(physical)) as consumer:
        for ev in consumer.iterate(idle_timeout=5):
            got[physical[ev.topic]].append((ev.schema.name, ev.record))
    summary = summarize(got[topics.DECISIONS], got[topics.ORDERS])
    table = Table("submitted", "approved", "rejected by the gate", "fills", "filled", "partially filled",
                  "expired unfilled", "open at the end", "rejected by the venue",
                  title=f"The paper venue's loop ({elapsed:.0f} s)")
    table.add_row(
        f"{submitted:,}", f"{summary.approved:,}",
        ", ".join(f"{k} {v:,}" for k, v in sorted(summary.refused.items())) or "-",
        f"{summary.fills:,}", f"{summary.filled:,}", f"{summary.partially_filled:,}",
        f"{summary.expired_unfilled:,}", f"{summary.open:,}", f"{summary.venue_rejected:,}",
    )
    console.print(table)
    last: dict[tuple[str, str, str], dict[str, Any]] = {}
    for _, r in got[topics.POSITIONS]:
        last[(r["account"], r["venue"], r["symbol"])] = r
    positions = Table("account", "venue", "symbol", "quantity", "average price", "realized P&L", "fees",
                      "drawdown (bps)", title="Resulting positions (risk.positions.v1, last update)")
    for (account, venue_name, symbol), r in sorted(last.items()):
        positions.add_row(account, venue_name, symbol, f"{Decimal(str(r['quantity'])).normalize():f}",
                          _money(r["average_price"]), _money(r["realized_pnl"]), _money(r["fees"]),
                          f"{r['drawdown_bps']:,.0f}" if r["drawdown_bps"] is not None else "-")
    console.print(positions)
    opened = Counter(r["venue"] for _, r in got[topics.BREAKERS] if r["to_state"] == "OPEN")
    states = [f"{r['venue']} {r['from_state']}→{r['to_state']}" for _, r in got[topics.TRADING_STATE]]
    console.print(f"breakers opened: {', '.join(f'{v} {n}' for v, n in sorted(opened.items())) or 'none'}; "
                  f"trading state changes: {', '.join(states) or 'none'}", highlight=False)
    ok = summary.approved > 0 and summary.fills > 0 and len(last) > 0
    if not ok:
        console.print("[bold red]the paper venue's loop produced no fills or no positions[/]")
    return 0 if ok else 1


def _money(value: Any) -> str:
    return "-" if value is None else f"{Decimal(str(value)):,.2f}"
