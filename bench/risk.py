"""``python -m bench.risk``: events/s through decode + the risk pipeline, vs decode alone, same bytes, same run.

The mix is a generated market day (``streams.generator``, seed 42, crypto + orders): ~209k ticks of six
venue:symbol feeds, ~34k heartbeats (not forwarded by the rekey stage), ~9k order events, ~26k venue
health probes, merged by event time, with the day's
drawdown, latency-spike and error-burst episodes. Every event is encoded once (Avro single-object);
then, interleaved and best of ``--repeats``:

* baseline: decode-only, the best hand-written loop with the same library: fastavro
  ``schemaless_reader`` of every message (same wire schemas, integer timestamps);
* candidate: decode as the replay decodes (``AvroSerde.decode_many`` per fetch of up to 2,000
  messages: column-wise, :mod:`streams.codec.columnar`) + both risk stages in-process
  (:class:`processors.risk.InProcessRisk`: routing of the rekey stage, the venue's PartitionRuntime,
  positions and PnL, five breakers, trading states, the order gate, alert throttling), from a fresh state.

For reference it also prints Mercado's decode alone (``decode_many``) and the candidate with
``AvroSerde.decode`` per message (what the live worker does).

Rates are per CPU-second of this (single-threaded) process — events/s on one core, whatever else the
machine runs — and, for reference, per wall-clock second. A third pass times each event's trip through
the risk stage (``feed``) and reports the p99 over the events that opened a breaker (violating event ->
its BreakerTransition to OPEN) in thread CPU time (what the processor spends; a preempted process on a
busy machine does not count) and in wall-clock time, and the wall-clock p99 over all events.
Targets: >= 100,000 events/s on one core, ratio >= 0.5, p99 <= 1 ms.
Not measured: the repartition topic's own encode/decode and Kafka I/O.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from bench.common import cpu_interleaved, decode_only, result
from processors import topics
from processors.risk import InProcessRisk
from schemas.loader import load_schemas
from streams.codec.coerce import record_coercer
from streams.codec.serde import AvroSerde
from streams.generator.trading.risk_setup import VENUES, day_config  # noqa: F401  (re-exported for the tests)

SEED = 42
FETCH = 2000  # messages per fetch, as the replay's reader consumes them
DAY = date(2026, 11, 20)
DAY_FILES: tuple[tuple[str, str | None], ...] = (
    (topics.ORDERS, None),  # rows name their record in "type"
    (topics.VENUE_HEALTH, "VenueHealth"),
    (topics.TICKS, "PriceTick"),
)


def day_records(out_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """The generated day's orders, health probes and ticks as wire records, merged by event time
    (stable: orders before probes before ticks at the same microsecond)."""
    schemas = load_schemas()
    coercers: dict[str, Any] = {}
    records: list[tuple[str, dict[str, Any]]] = []
    for topic, default in DAY_FILES:
        for line in (out_dir / f"{topic}.jsonl").read_bytes().splitlines():
            row = orjson.loads(line)
            name = row.pop("type", None) or default
            coerce = coercers.get(name)
            if coerce is None:
                coerce = coercers[name] = record_coercer(schemas[name])
            records.append((name, coerce(row)))
    records.sort(key=lambda e: e[1]["event_time"])
    return records


def generate(out_dir: Path, seed: int = SEED, day: date = DAY) -> Path:
    from streams.generator import generate_day

    generate_day(out_dir, seed, day, domains=("crypto", "orders"))
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        records = day_records(generate(Path(tmp), args.seed))
        print(f"generated {len(records):,} events in {time.perf_counter() - started:.1f} s")
    serde = AvroSerde()
    encoders = {name: serde.encoder(name) for name in {name for name, _ in records}}
    blobs = [encoders[name](record) for name, record in records]
    del records
    config = day_config()
    decode = serde.decode
    decode_many = serde.decode_many

    baseline = decode_only(serde, blobs)

    def candidate() -> int:
        feed = InProcessRisk(config).feed
        for start in range(0, len(blobs), FETCH):
            for schema, record in decode_many(blobs[start:start + FETCH]):  # type: ignore[misc]
                feed(schema.name, record)
        return len(blobs)

    def decode_many_only() -> int:
        for start in range(0, len(blobs), FETCH):
            decode_many(blobs[start:start + FETCH])
        return len(blobs)

    def per_message() -> int:
        feed = InProcessRisk(config).feed
        for blob in blobs:
            schema, record = decode(blob)
            feed(schema.name, record)
        return len(blobs)

    (value, wall_value), (base, wall_base) = cpu_interleaved(candidate, baseline, args.repeats)
    print(f"wall clock: {wall_value:,.0f} events/s vs {wall_base:,.0f} events/s (ratio {wall_value / wall_base:.3f})")
    (own_decode, _), (per_message_rate, _) = cpu_interleaved(decode_many_only, per_message, args.repeats)
    print(f"for reference: decode_many alone {own_decode:,.0f} events/CPU-s; decode per message + risk "
          f"{per_message_rate:,.0f} events/CPU-s")

    run = InProcessRisk(config)
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    all_wall: list[int] = []
    opening_wall: list[int] = []
    opening_cpu: list[int] = []
    outputs = 0
    for blob in blobs:
        schema, record = decode(blob)
        c0, w0 = cpu(), wall()
        out = run.feed(schema.name, record)
        w1, c1 = wall(), cpu()
        all_wall.append(w1 - w0)
        outputs += len(out)
        event_id = record["event_id"]
        if any(e.schema == "BreakerTransition" and e.record["to_state"] == "OPEN" and e.record["caused_by"] == event_id
               for e in out):
            opening_wall.append(w1 - w0)
            opening_cpu.append(c1 - c0)
    p99_open = percentile(opening_cpu, 0.99) / 1e6
    p99_open_wall = percentile(opening_wall, 0.99) / 1e6
    p99_all = percentile(all_wall, 0.99) / 1e6
    print(f"{len(opening_cpu)} breaker-opening events: p99 {p99_open:.3f} ms CPU time (max "
          f"{max(opening_cpu, default=0) / 1e6:.3f} ms), p99 {p99_open_wall:.3f} ms wall clock (max "
          f"{max(opening_wall, default=0) / 1e6:.3f} ms); all events: p99 {p99_all:.4f} ms wall clock; "
          f"{outputs:,} outputs")
    result("risk", value, base, "events/s (CPU time, one core)", events=len(blobs), p99_ms=round(p99_open, 4),
           p99_wall_ms=round(p99_open_wall, 4), p99_all_wall_ms=round(p99_all, 4),
           breaker_openings=len(opening_cpu), wall_value=round(wall_value, 1), wall_baseline=round(wall_base, 1),
           decode_many_only=round(own_decode, 1), per_message_path=round(per_message_rate, 1),
           target_events_s=100_000, target_ratio=0.5, target_p99_ms=1.0)


def percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


if __name__ == "__main__":
    main()
