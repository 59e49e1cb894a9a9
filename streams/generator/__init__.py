"""A seeded, realistic sample market day for every Mercado domain, as JSON Lines files per topic.

``generate_day(out_dir, seed, day)`` writes one file per Kafka topic (the file stem is the topic
name), the retail ground truth, and ``manifest.json``. The same seed and day give byte-identical
files: every domain draws from its own ``random.Random`` derived from (seed, day, domain), no
wall clock, no hash or set ordering, and lines are serialized with sorted keys.

Domains and their days: crypto, orders and venue health cover the UTC day; USD/COP trades
Mon–Fri 08:00–12:55 America/Bogota except Colombian holidays; the scanner runs 04:00–20:00
America/New_York on NYSE trading days (post-market ends 17:00 on early-close days); retail is
crawled every day in the Chilean morning and again in the afternoon.

``order_flow`` chooses what the orders domain writes: ``"lifecycle"`` (the default) every order's whole
story as the market maker's venues told it (submission, acceptance or rejection, fills, cancels);
``"submissions"`` only the ``OrderSubmitted`` events — nothing accepted, filled or canceled — for a venue
that executes them (the paper venue: ``mercado venue paper``, risk gate → venue → fills → positions). The
submissions are the same in both modes, byte for byte: the strategy still quotes on the fills it simulates
(it cannot see the executing venue's), so a submissions-only day is its lifecycle day's ``OrderSubmitted``
lines.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from processors import topics
from streams.generator.clock import SECOND, iso
from streams.generator.config import CRYPTO
from streams.generator.manifest import MANIFEST_NAME, Manifest
from streams.generator.marketdata.calendars import Window, colombian_holiday, fx_session, nyse_day
from streams.generator.marketdata.crypto import CryptoDay, generate_crypto
from streams.generator.marketdata.fx import FxDay, generate_fx
from streams.generator.marketdata.heartbeats import heartbeat_record, heartbeat_times
from streams.generator.marketdata.ticks import TickSeries, merged_tick_records
from streams.generator.retail.listings import generate_retail
from streams.generator.rng import domain_rng
from streams.generator.scanner.snapshots import generate_scanner
from streams.generator.trading.orders import generate_orders
from streams.generator.trading.scenario import draw_crypto_scenario
from streams.generator.trading.venue_health import generate_venue_health
from streams.generator.writer import FileEntry, write_jsonl, write_text

__all__ = ["DOMAINS", "FILES", "ORDER_FLOWS", "MANIFEST_NAME", "TRUTH_FILE", "FileEntry", "Manifest", "generate_day"]

TICKS = topics.TICKS
LISTINGS = topics.LISTINGS
SNAPSHOTS = topics.SCAN_SNAPSHOTS
ORDERS = topics.ORDERS
VENUE_HEALTH = topics.VENUE_HEALTH
TRUTH_FILE = "retail.truth.csv"
#: topic -> Avro record(s) its file carries
FILES: dict[str, tuple[str, ...]] = {
    TICKS: ("mercado.marketdata.PriceTick", "mercado.marketdata.Heartbeat"),
    LISTINGS: ("mercado.retail.RetailListing",),
    SNAPSHOTS: ("mercado.scanner.ScanSnapshot",),
    ORDERS: tuple(
        f"mercado.trading.{name}"
        for name in ("OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled")
    ),
    VENUE_HEALTH: ("mercado.trading.VenueHealth",),
}
DOMAINS: tuple[str, ...] = ("fx", "crypto", "retail", "scanner", "orders")
LIFECYCLE, SUBMISSIONS = "lifecycle", "submissions"
ORDER_FLOWS: tuple[str, ...] = (LIFECYCLE, SUBMISSIONS)  # what the orders domain writes (module docstring)

Progress = Callable[[str, int], None]


def _heartbeats(feeds: list[tuple[TickSeries, Window]]) -> Iterator[dict[str, Any]]:
    every = CRYPTO.heartbeat_every_s * SECOND
    beats = [heartbeat_times(series.times, window, every) for series, window in feeds]
    streams = [zip(times, [k] * len(times), strict=True) for k, times in enumerate(beats)]
    for t, k in heapq.merge(*streams):
        yield {"type": "Heartbeat", **heartbeat_record(feeds[k][0].source, t)}


def generate_day(
    out_dir: Path,
    seed: int,
    day: date,
    progress: Progress | None = None,
    *,
    domains: Collection[str] | None = None,
    order_flow: str = LIFECYCLE,
) -> Manifest:
    """Write the sample day into ``out_dir`` and return its manifest (also written as ``manifest.json``).

    ``domains`` limits the output to some of :data:`DOMAINS` (the default is all); a domain's
    events do not depend on which other domains are generated. ``order_flow`` is one of
    :data:`ORDER_FLOWS` (module docstring).
    """
    if order_flow not in ORDER_FLOWS:
        raise ValueError(f"unknown order flow {order_flow!r}; choose from {', '.join(ORDER_FLOWS)}")
    selected = set(DOMAINS if domains is None else domains)
    unknown = sorted(selected - set(DOMAINS))
    if unknown:
        raise ValueError(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _what, _n: None)
    manifest = Manifest(seed=seed, day=day.isoformat(), domains=[d for d in DOMAINS if d in selected])

    def topic_file(topic: str, records: Any) -> None:
        entry = write_jsonl(out_dir / f"{topic}.jsonl", records, topic=topic)
        manifest.files[f"{topic}.jsonl"] = entry
        report(topic, entry.lines)

    # Market data: USD/COP and crypto ticks share one topic with the heartbeats of quiet feeds.
    scenario = draw_crypto_scenario(domain_rng(seed, day, "scenario"), day)
    fx: FxDay | None = None
    if "fx" in selected:
        session = fx_session(day)
        holiday = colombian_holiday(day)
        fx_info: dict[str, Any] = {"open": session is not None, "holiday": holiday}
        if session is not None:
            fx = generate_fx(domain_rng(seed, day, "fx"), session)
            fx_info.update(session={"start": iso(session.start), "end": iso(session.end)}, feed_gap=fx.describe())
        manifest.scenario["fx"] = fx_info
    crypto: CryptoDay | None = None
    if "crypto" in selected or "orders" in selected:
        crypto = generate_crypto(domain_rng(seed, day, "crypto"), scenario)
        manifest.scenario["crypto"] = scenario.describe()
    if "fx" in selected or "crypto" in selected:
        feeds: list[tuple[TickSeries, Window]] = []
        if fx is not None:
            feeds.append((fx.series, fx.session))
        if "crypto" in selected and crypto is not None:
            feeds.extend((series, scenario.day) for series in crypto.series)
        # Heartbeats share the ticks' topic and key (venue:symbol), so each key's log interleaves them
        # in event-time order; lines with "type": "Heartbeat" name their record, tick lines need none.
        ticks = merged_tick_records([series for series, _ in feeds])
        topic_file(TICKS, heapq.merge(ticks, _heartbeats(feeds), key=lambda r: r["event_time"]))

    if "retail" in selected:
        retail = generate_retail(domain_rng(seed, day, "retail"), day)
        topic_file(LISTINGS, retail.records)
        manifest.files[TRUTH_FILE] = write_text(out_dir / TRUTH_FILE, retail.truth_csv())
        report(TRUTH_FILE, len(retail.truth))
        manifest.scenario["retail"] = retail.describe()

    if "scanner" in selected:
        nyse = nyse_day(day)
        if nyse is None:
            topic_file(SNAPSHOTS, [])
            manifest.scenario["scanner"] = {"open": False}
        else:
            scanner = generate_scanner(domain_rng(seed, day, "scanner"), nyse)
            topic_file(SNAPSHOTS, scanner.records())
            manifest.scenario["scanner"] = {"open": True, **scanner.describe()}

    if "orders" in selected and crypto is not None:
        flow = generate_orders(domain_rng(seed, day, "orders"), crypto, scenario)
        records = flow.records()
        if order_flow == SUBMISSIONS:
            records = [r for r in records if r["type"] == "OrderSubmitted"]
        topic_file(ORDERS, records)
        topic_file(VENUE_HEALTH, generate_venue_health(domain_rng(seed, day, "venue-health"), scenario))
        manifest.scenario["orders"] = flow.episode
        if order_flow != LIFECYCLE:  # (a lifecycle day's manifest stays as it was)
            manifest.scenario["orders"] = {**flow.episode, "order_flow": order_flow}

    manifest.write(out_dir)
    return manifest
