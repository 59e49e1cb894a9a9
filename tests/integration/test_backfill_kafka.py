"""`mercado backfill` through the real broker: replacement ticks re-emit bars as revisions of the same keys."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from streams.config import Settings
from streams.engines.replay import KafkaRangeReader, run_replay
from streams.ingest.backfill import run_backfill
from streams.ingest.producer import FileProducer
from streams.kafka.admin import ensure_topics
from streams.kafka.consumer import default_serde
from streams.runtime.pipelines import build_pipeline

pytestmark = pytest.mark.kafka

T0 = 1_795_132_800_000_000  # 2026-11-20T00:00:00Z, crypto trades 24/7
MIN = 60_000_000


def _tick(i: int, t: int, price: float) -> dict:
    return {"event_id": f"kraken:SOL/USDT:{i}", "event_time": t, "venue": "kraken", "symbol": "SOL/USDT",
            "bid": price - 0.01, "ask": price + 0.01, "last": price, "volume": 1.0, "sequence": i}


class _Bars:
    def __init__(self) -> None:
        self.bars: list[dict] = []

    def write(self, outputs: list) -> None:
        self.bars += [o.emit.record for o in outputs if o.emit.schema == "Bar" and o.emit.record["interval_s"] == 60]

    def close(self) -> dict[str, int]:
        return {}


def _replay_bars(settings: Settings) -> list[dict]:
    spec = build_pipeline("marketdata", settings)
    serde = default_serde(settings)
    reader = KafkaRangeReader(settings, [settings.topic("md.ticks.v1")], None, None, serde)
    sink = _Bars()
    run_replay(iter(reader), spec, serde, sink)
    reader.close()
    return sink.bars


def test_backfill_reemits_revisions_with_the_same_bar_keys(services: Settings, tmp_path: Path) -> None:
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.backfill."  # under the session's prefix
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings)
    live = [_tick(i, T0 + i * 10_000_000, 100.0 + i) for i in range(60)]  # 10 minutes, one tick per 10 s
    live_file = tmp_path / "live.jsonl"
    live_file.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in live))
    FileProducer(settings, "md.ticks.v1").produce_file(live_file)
    before = _replay_bars(settings)
    assert [b["start"] for b in before] == [T0 + m * MIN for m in range(9)]  # the 10th minute is still open
    assert {b["revision"] for b in before} == {0}

    # Corrected prices for minutes 2 and 3: every tick there at 200.
    fixed = [_tick(1000 + i, T0 + 2 * MIN + i * 15_000_000, 200.0) for i in range(8)]
    fixed_file = tmp_path / "fixed.csv"
    fixed_file.write_text("event_id,event_time,venue,symbol,bid,ask,last,volume,sequence\n" + "".join(
        f"{r['event_id']},{r['event_time']},kraken,SOL/USDT,{r['bid']},{r['ask']},{r['last']},1.0,{r['sequence']}\n"
        for r in fixed))
    report = run_backfill(settings, "md.ticks.v1", fixed_file, start_us=T0 + 2 * MIN, end_us=T0 + 4 * MIN)
    assert report.ticks.produced == 8
    assert report.spans["kraken:SOL/USDT"].ticks == 8
    again = run_backfill(settings, "md.ticks.v1", fixed_file, start_us=T0 + 2 * MIN, end_us=T0 + 4 * MIN)
    assert again.backfill_id == report.backfill_id  # same file, same id

    after = _replay_bars(settings)
    revised = [b for b in after if b["revision"] > 0]
    assert [(b["start"], b["revision"]) for b in revised] == [
        (T0 + 2 * MIN, 1), (T0 + 3 * MIN, 1),  # first backfill
        (T0 + 2 * MIN, 2), (T0 + 3 * MIN, 2),  # the same backfill once more: a new revision, same prices
    ]
    for b in revised:
        assert (b["open"], b["high"], b["low"], b["close"], b["tick_count"]) == (200.0, 200.0, 200.0, 200.0, 4)
        assert b["event_id"] == f"bar:kraken:SOL/USDT:60:{b['start']}:r{b['revision']}"
    # One row per bar key once the highest revision wins, as the sink keeps it.
    latest: dict[int, dict] = {}
    for b in after:
        if b["start"] not in latest or b["revision"] > latest[b["start"]]["revision"]:
            latest[b["start"]] = b
    assert sorted(latest) == [T0 + m * MIN for m in range(9)]
    assert latest[T0 + 2 * MIN]["close"] == 200.0 and latest[T0 + 1 * MIN]["close"] == before[1]["close"]
