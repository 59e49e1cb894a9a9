"""The README's demo: a generated market day through Kafka, read back and summarized."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from streams.config import Settings

if TYPE_CHECKING:
    from streams.feeds.loopback import LoopbackFeed


@dataclass
class TopicRoundTrip:
    topic: str
    file_rows: int
    produced: int
    read_back: int
    distinct_ids: int
    produce_rate: float
    checksum_ok: bool


def topic_files(data_dir: Path) -> list[tuple[str, Path]]:
    """The generated files that are topics (``<topic>.jsonl`` for catalog topics), in catalog order."""
    from streams.kafka.catalog import all_topics

    out = []
    for spec in all_topics():
        path = data_dir / f"{spec.name}.jsonl"
        if path.exists():
            out.append((spec.name, path))
    return out


def run_demo(settings: Settings, *, seed: int, day: dt.date, console: Console, feed_seconds: float = 60.0) -> int:
    from infra.local import InfraError
    from infra.local import up as infra_up
    from streams.kafka.admin import ensure_topics

    console.rule("[bold]Mercado demo")
    try:
        with console.status("starting Kafka (KRaft) and PostgreSQL…"):
            conn = infra_up(settings)
    except InfraError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 1
    console.print(f"Kafka {conn['kafka_bootstrap']} · PostgreSQL {conn['database_url']}", highlight=False)
    # Each run gets its own topics (demo.<run>.*), so a re-run never mixes with an earlier day's data.
    base_prefix = settings.kafka.topic_prefix
    retention = settings.kafka.topic_retention_ms
    settings = settings.with_(
        kafka__topic_prefix=f"{base_prefix}demo.{int(time.time())}.",
        # the sample day has a fixed date: keep its events whatever today's date is
        kafka__topic_retention_ms=-1 if retention is None else retention,
    )
    removed = remove_earlier_demo_topics(settings, base_prefix)
    created = [s.name for s in ensure_topics(settings) if s.action == "created"]
    console.print(
        f"topics {settings.kafka.topic_prefix}* ready ({len(created)} created"
        + (f", {removed} of earlier demo runs removed)" if removed else ")"),
        highlight=False,
    )

    # one feed adapter runs beside the day, against a local server (its report comes after the day's)
    feed = _start_feed(settings, feed_seconds, console) if feed_seconds > 0 else None
    code = 1
    try:
        code = _run_day(settings, seed=seed, day=day, console=console)
    finally:
        if feed is not None and code:  # the day failed: the feed stops now instead of at its time
            feed.stop()
    if feed is not None:
        code = _print_feed(feed, console) or code
    return code


def _start_feed(settings: Settings, seconds: float, console: Console) -> LoopbackFeed:
    from processors import topics
    from streams.feeds.loopback import LoopbackFeed
    from streams.kafka.admin import ensure_topics
    from streams.kafka.catalog import topic

    # topics of its own: the feed's ticks carry today's time, the generated day another date
    feed_settings = settings.with_(kafka__topic_prefix=f"{settings.kafka.topic_prefix}feed.")
    ensure_topics(feed_settings, tuple(topic(t) for t in (topics.TICKS, topics.VENUE_HEALTH, topics.DEAD_LETTERS)))
    feed = LoopbackFeed(feed_settings, seconds, quiet=True)
    feed.start()
    console.print(f"live feed: mercado feed ccxt binance against a local server in Binance's format, for {seconds:g} s "
                  f"beside the day (topics {feed_settings.kafka.topic_prefix}*)", highlight=False)
    console.print(f"  the local server injects faults on purpose ({_fault_names(LoopbackFeed.FAULTS)}): the feed "
                  "must reconnect and still write every trade once; its warnings are counted in the feed's report "
                  "below instead of printed", highlight=False)
    return feed


_FAULT_NAMES = {"dup": "a repeated page", "429": "a 429 rate limit", "cut": "a body cut half-way"}


def _fault_names(faults: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_FAULT_NAMES.get(f, f) for f in faults)


def _print_feed(feed: LoopbackFeed, console: Console) -> int:
    with console.status("live feed: finishing, reading its ticks back…"):
        report = feed.join()
    table = Table("served trades", "ticks written", "distinct ids", "missing", "repeats dropped", "heartbeats",
                  "pings ok", "failed requests", "reconnects",
                  title=f"Live feed: ccxt binance REST against {report.url} for {report.seconds:g} s")
    table.add_row(f"{report.served:,}", f"{report.ticks:,}", f"{report.distinct:,}", f"{report.missing:,}",
                  f"{report.duplicates_dropped:,}", f"{report.heartbeats:,}", f"{report.pings_ok:,}",
                  f"{len(report.failures):,}",
                  ", ".join(f"{k} {v}" for k, v in sorted(report.reconnects.items())) or "-")
    console.print(table)
    for label, tick in (("first", report.first), ("last", report.last)):
        if tick is not None:
            at = dt.datetime.fromtimestamp(tick["event_time"] / 1e6, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            console.print(f"  {label} tick: {tick['event_id']} at {at} UTC, last {tick['last']:,.2f}, "
                          f"volume {tick['volume']:g}", highlight=False)
    if report.injected:
        console.print(f"  injected on purpose: {_fault_names(report.injected)}", highlight=False)
    if report.logged:
        console.print("  the feed's log lines, counted: " + ", ".join(
            f"{event} ×{n}" for event, n in sorted(report.logged.items())), highlight=False)
    for error in report.failures[:3]:
        console.print(f"  failed request: {error[:110]}", highlight=False)
    ok = report.ticks == report.distinct and report.missing == 0 and report.ticks > 0
    console.print("every served trade written once" if ok else "[bold red]the live feed lost or repeated trades[/]",
                  highlight=False)
    return 0 if ok else 1


def _run_day(settings: Settings, *, seed: int, day: dt.date, console: Console) -> int:
    from streams.generator import generate_day
    from streams.ingest.producer import FileProducer
    from streams.kafka.consumer import EventConsumer, end_offsets

    data_dir = settings.local.state_dir / "demo" / f"{day.isoformat()}-seed{seed}"
    started = time.perf_counter()
    with console.status(f"generating {day} (seed {seed})…") as st:
        generate_day(data_dir, seed, day, progress=lambda what, n: st.update(f"generating {what}: {n:,}"))
    console.print(f"generated {day} into {data_dir} in {time.perf_counter() - started:.1f} s", highlight=False)

    files = topic_files(data_dir)
    names = [name for name, _ in files]
    physical = {settings.topic(n): n for n in names}
    before = end_offsets(settings, list(physical))
    results: dict[str, TopicRoundTrip] = {}
    expected_digest: dict[str, str] = {}
    for name, path in files:
        producer = FileProducer(settings, name)
        with console.status(f"producing {name}…"):
            report = producer.produce_file(path)
        lines = sum(1 for line in path.open("rb") if line.strip())
        results[name] = TopicRoundTrip(name, lines, report.produced, 0, 0, report.rate, False)
        expected_digest[name] = _digest_of_ids(_ids_in_file(path))

    ids: dict[str, list[str]] = {name: [] for name in names}
    with console.status("reading every event back…"):
        with EventConsumer(settings, list(physical), start_offsets=before) as consumer:
            for ev in consumer.iterate(idle_timeout=30):
                ids[physical[ev.topic]].append(ev.record["event_id"])
    for name in names:
        r = results[name]
        r.read_back = len(ids[name])
        r.distinct_ids = len(set(ids[name]))
        r.checksum_ok = _digest_of_ids(ids[name]) == expected_digest[name]

    table = Table(
        "topic",
        "file rows",
        "produced",
        "read back",
        "distinct ids",
        "ids match",
        "events/s",
        title=f"Market day {day} (seed {seed})",
    )
    ok = True
    for name in names:
        r = results[name]
        good = r.file_rows == r.produced == r.read_back and r.checksum_ok
        ok &= good
        table.add_row(
            name,
            f"{r.file_rows:,}",
            f"{r.produced:,}",
            f"{r.read_back:,}",
            f"{r.distinct_ids:,}",
            "[green]yes[/]" if r.checksum_ok else "[red]NO[/]",
            f"{r.produce_rate:,.0f}",
        )
    console.print(table)
    console.print("every event read back exactly once" if ok else "[bold red]round trip mismatch[/]", highlight=False)
    if not ok:
        return 1
    from importlib.metadata import entry_points

    from streams.commands.demo_pipelines import run_marketdata

    code = run_marketdata(settings, console)
    if not code:
        from streams.commands.demo_pipelines import run_recommendations

        code = run_recommendations(settings, console, day, seed)
    # Steps of packages layered above streams (the sink) register as ``mercado.demo`` entry points.
    for step in sorted(entry_points(group="mercado.demo"), key=lambda e: e.name):
        if code:
            break
        code = step.load()(settings, console)
    if not code:  # last: the market maker's loop closed by the paper venue, on topics of its own
        from streams.commands.demo_paper import run_paper_loop

        code = run_paper_loop(settings, console, day, seed)
    return code


def _ids_in_file(path: Path) -> list[str]:
    import orjson

    return [orjson.loads(line)["event_id"] for line in path.open("rb") if line.strip()]


def _digest_of_ids(ids: list[str]) -> str:
    """Order-independent digest of a multiset of ids (partitions interleave on the way back)."""
    h = hashlib.sha256()
    for i in sorted(ids):
        h.update(i.encode())
        h.update(b"\n")
    return h.hexdigest()


def remove_earlier_demo_topics(settings: Settings, base_prefix: str) -> int:
    """Deletes the topics of earlier demo runs (``<prefix>demo.<run>.*``) other than this run's."""
    from confluent_kafka.admin import AdminClient

    from streams.kafka.clients import admin_config

    admin = AdminClient(admin_config(settings))
    old = [t for t in admin.list_topics(timeout=30).topics
           if t.startswith(f"{base_prefix}demo.") and not t.startswith(settings.kafka.topic_prefix)]
    if old:
        for fut in admin.delete_topics(old, operation_timeout=60).values():
            fut.result()
    return len(old)
