"""``python -m bench.marketdata_replay``: ticks/s through the replay driver's market-data path.

Mercado: decode + bars (1 and 5 min) + gaps + indicators + move alerts + data quality + encoding of
every output, as the replay runs it: the replay's Kafka reader decodes each fetched batch (up to
2,000 messages) at once with ``AvroSerde.decode_many`` (column-wise, :mod:`streams.codec.columnar`), then
``PipelineDriver.process_decoded`` runs each message; here over the encoded ticks of a generated
market day (the crypto and USD/COP feeds) held in memory, in fetch-sized chunks.
Baseline, same run: a loop that only decodes the same bytes with fastavro ``schemaless_reader``
(same wire schema: integer timestamps). Kafka fetching is left out of both. For reference the bench
also prints Mercado's decode alone (``decode_many``) and the per-message path
(``PipelineDriver.process``: fastavro decode per message, what the live worker does). ``value`` and
``baseline`` are wall-clock rates (best of ``--repeats``, interleaved); the same runs measured per
CPU-second of the process are printed too (``cpu_value``, ``cpu_baseline``, ``cpu_ratio``): on a shared
machine they show what one core does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import orjson

from bench.common import cpu_interleaved, decode_only, interleaved, result
from processors import topics
from processors.partitioning import partition_of
from streams.codec.coerce import record_coercer
from streams.codec.serde import AvroSerde
from streams.config import get_settings
from streams.runtime.driver import PipelineDriver
from streams.runtime.pipelines import build_pipeline

FETCH = 2000  # messages per fetch, as the replay's reader consumes them


def encoded_day(seed: int, day: dt.date, limit: int | None) -> list[tuple[int, bytes]]:
    """(partition, bytes) of the generated day's md.ticks.v1 events, ticks and heartbeats, in file order."""
    from streams.generator import generate_day

    serde = AvroSerde()
    with tempfile.TemporaryDirectory() as tmp:
        generate_day(Path(tmp), seed, day)
        out = []
        coercers = {name: record_coercer(serde.schemas[name]) for name in ("PriceTick", "Heartbeat")}
        encoders = {name: serde.encoder(name) for name in coercers}
        with open(Path(tmp) / "md.ticks.v1.jsonl", "rb") as fh:
            for line in fh:
                row = orjson.loads(line)
                name = row.pop("type", "PriceTick")
                rec = coercers[name](row)
                key = rec.get("source") or f"{rec['venue']}:{rec['symbol']}"
                out.append((partition_of(key, 3), encoders[name](rec)))
                if limit and len(out) >= limit:
                    break
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--day", default="2026-11-20")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N events")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = get_settings()
    events = encoded_day(args.seed, dt.date.fromisoformat(args.day), args.limit)
    serde = AvroSerde()
    spec = build_pipeline("marketdata", settings)
    outputs = 0

    def mercado() -> int:
        nonlocal outputs
        driver = PipelineDriver(spec, serde)
        process = driver.process_decoded
        decode_many = serde.decode_many
        outputs = 0
        for start in range(0, len(events), FETCH):
            chunk = events[start:start + FETCH]
            decoded = decode_many([value for _, value in chunk])
            for offset, ((partition, _), message) in enumerate(zip(chunk, decoded, strict=True), start):
                outputs += len(process(topics.TICKS, partition, offset, message))
        return len(events)

    def per_message() -> int:
        process = PipelineDriver(spec, serde).process
        for offset, (partition, value) in enumerate(events):
            process(topics.TICKS, partition, offset, value)
        return len(events)

    def decode_many_only() -> int:
        for start in range(0, len(events), FETCH):
            serde.decode_many([value for _, value in events[start:start + FETCH]])
        return len(events)

    baseline_run = decode_only(serde, [value for _, value in events])
    (cpu_value, value), (cpu_baseline, baseline) = cpu_interleaved(mercado, baseline_run, args.repeats)
    own_decode, per_message_rate = interleaved(decode_many_only, per_message, args.repeats)
    print(f"for reference: decode_many alone {own_decode:,.0f} ticks/s; per-message path (fastavro decode per "
          f"message, as the live worker) {per_message_rate:,.0f} ticks/s")
    print(f"per CPU-second of this process (the machine may be shared): {cpu_value:,.0f} vs baseline "
          f"{cpu_baseline:,.0f} ticks/CPU-s -> ratio {cpu_value / cpu_baseline:.3f}")
    result("marketdata_replay", value, baseline, "ticks/s", events=len(events), outputs=outputs,
           decode_many_only=round(own_decode, 1), per_message_path=round(per_message_rate, 1),
           cpu_value=round(cpu_value, 1), cpu_baseline=round(cpu_baseline, 1),
           cpu_ratio=round(cpu_value / cpu_baseline, 3), target_value=150_000, target_ratio=0.5)


if __name__ == "__main__":
    main()
