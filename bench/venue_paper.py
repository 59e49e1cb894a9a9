"""``python -m bench.venue_paper``: events/s through decode + the paper venue (both stages, in process), vs
decode alone, same bytes, same run.

The mix is the paper venue's input on a generated market day (``streams.generator``, seed 42, crypto + orders
in the submissions-only order flow): the risk gate's decisions on the day's ~2,800 submitted orders
(:class:`processors.risk.InProcessRisk` with the day's risk configuration, computed once before timing; its
OrderApproved records, the ones the rekey stage forwards, and its OrderRejected ones, which it drops; no loop:
the gate sees no fills, so no breaker trips and it approves nearly every order) and the
day's ~209k ticks of six venue:symbol feeds, merged by event time. The venue: 50 ms latency, a tick offers
0.25 of a base unit per side (partial fills), time in force 60 s. Every event is encoded once (Avro
single-object); then, interleaved and best of ``--repeats``:

* baseline: decode-only, the best hand-written loop with the same library: fastavro ``schemaless_reader``
  of every message (same wire schemas, integer timestamps);
* candidate: decode as the replay decodes (``AvroSerde.decode_many`` per fetch of up to 2,000 messages) +
  both paper stages in process (:class:`processors.venue.InProcessPaper`: the rekey stage's routing, each
  partition's runtime and timers, the venue's fills, fees, expiries), from a fresh state.

For reference it also prints the pure processor alone (records already decoded, ``InProcessPaper``) and the
candidate with ``AvroSerde.decode`` per message (what the live worker does). Rates are per CPU-second of this
(single-threaded) process — events/s on one core, whatever else the machine runs — and, for reference, per
wall-clock second. Not measured: the repartition topic's own encode/decode and Kafka I/O (the paper
worker through the broker is not benchmarked here).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import cpu_interleaved, decode_only, result
from bench.risk import DAY, SEED, day_records
from processors import topics
from processors.risk import InProcessRisk
from processors.venue import InProcessPaper, PaperVenueConfig
from streams.codec.serde import AvroSerde
from streams.generator.trading.risk_setup import day_config

FETCH = 2000
CONFIG = PaperVenueConfig(latency_ms=50, time_in_force_s=60, max_fill_quantity=Decimal("0.25"))


def paper_inputs(out_dir: Path, seed: int = SEED) -> list[tuple[str, str, dict[str, Any]]]:
    """``(topic, schema, record)``: the risk gate's decisions on the submissions-only day, and its ticks,
    by event time (decisions first at the same microsecond)."""
    from streams.generator import generate_day

    generate_day(out_dir, seed, DAY, domains=("crypto", "orders"), order_flow="submissions")
    records = day_records(out_dir)
    decisions = [(topics.DECISIONS, e.schema, e.record) for e in InProcessRisk(day_config()).run(records)
                 if e.topic == topics.DECISIONS]
    ticks = [(topics.TICKS, name, r) for name, r in records if name == "PriceTick"]
    merged = [(e[2]["event_time"], 0, i, e) for i, e in enumerate(decisions)]
    merged += [(e[2]["event_time"], 1, i, e) for i, e in enumerate(ticks)]
    merged.sort(key=lambda m: m[:3])
    return [m[3] for m in merged]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        events = paper_inputs(Path(tmp), args.seed)
        kinds = Counter(schema for _, schema, _ in events)
        print(f"generated and decided {len(events):,} events in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items())))
    serde = AvroSerde()
    encoders = {name: serde.encoder(name) for name in kinds}
    blobs = [encoders[schema](record) for _, schema, record in events]
    topic_of = {"PriceTick": topics.TICKS}  # the rest are the gate's decisions
    decode, decode_many = serde.decode, serde.decode_many

    baseline = decode_only(serde, blobs)

    def candidate() -> int:
        feed = InProcessPaper(CONFIG).feed_to
        for start in range(0, len(blobs), FETCH):
            for schema, record in decode_many(blobs[start:start + FETCH]):  # type: ignore[misc]
                feed(topic_of.get(schema.name, topics.DECISIONS), schema.name, record)
        return len(blobs)

    def processor_only() -> int:
        feed = InProcessPaper(CONFIG).feed_to
        for topic, schema, record in events:
            feed(topic, schema, record)
        return len(events)

    def per_message() -> int:
        feed = InProcessPaper(CONFIG).feed_to
        for blob in blobs:
            schema, record = decode(blob)
            feed(topic_of.get(schema.name, topics.DECISIONS), schema.name, record)
        return len(blobs)

    (value, wall_value), (base, wall_base) = cpu_interleaved(candidate, baseline, args.repeats)
    print(f"wall clock: {wall_value:,.0f} events/s vs {wall_base:,.0f} events/s (ratio {wall_value / wall_base:.3f})")
    (pure, _), (per_message_rate, _) = cpu_interleaved(processor_only, per_message, args.repeats)
    print(f"for reference: the paper venue alone (decoded records) {pure:,.0f} events/CPU-s; decode per message "
          f"+ paper venue {per_message_rate:,.0f} events/CPU-s")

    out = InProcessPaper(CONFIG).run_events(events)
    lifecycle = Counter(e.schema for e in out if e.topic == topics.ORDERS)
    print("lifecycle events: " + ", ".join(f"{n:,} {k}" for k, n in sorted(lifecycle.items())))
    result("venue_paper", value, base, "events/s (CPU time, one core)", events=len(blobs),
           orders=kinds["OrderApproved"], ticks=kinds["PriceTick"], fills=lifecycle["OrderFilled"],
           processor_only=round(pure, 1), per_message_path=round(per_message_rate, 1),
           wall_value=round(wall_value, 1), wall_baseline=round(wall_base, 1))


if __name__ == "__main__":
    main()
