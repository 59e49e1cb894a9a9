"""``python -m bench.marketdata_replay``: ticks/s through the replay driver's market-data path.

Mercado: decode (framing + fastavro) + bars (1 and 5 min) + gaps + indicators + move alerts + data
quality + encoding of every output, i.e. ``PipelineDriver.process`` as the replay runs it, over the
encoded ticks of a generated market day (the crypto and USD/COP feeds) held in memory.
Baseline, same run: a loop that only decodes the same bytes with fastavro ``schemaless_reader``
(same wire schema: integer timestamps). Kafka fetching is left out of both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import zlib
from io import BytesIO
from pathlib import Path

import orjson
from fastavro import schemaless_reader

from bench.common import interleaved, result
from streams.coerce import record_coercer
from streams.config import get_settings
from streams.driver import PipelineDriver
from streams.pipelines import build_pipeline
from streams.serde import AvroSerde


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
                out.append((zlib.crc32(key.encode()) % 3, encoders[name](rec)))
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
        process = driver.process
        outputs = 0
        for offset, (partition, value) in enumerate(events):
            outputs += len(process("md.ticks.v1", partition, offset, value))
        return len(events)

    wire = {s.fingerprint_bytes: s.wire for s in serde.schemas}

    def decode_only() -> int:
        for _, value in events:
            buf = BytesIO(value)
            buf.seek(10)
            schemaless_reader(buf, wire[value[2:10]], None)
        return len(events)

    value, baseline = interleaved(mercado, decode_only, args.repeats)
    result("marketdata_replay", value, baseline, "ticks/s", events=len(events), outputs=outputs,
           target_value=150_000, target_ratio=0.5)


if __name__ == "__main__":
    main()
