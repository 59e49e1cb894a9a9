"""The live worker's driver under at-least-once delivery: messages delivered again — because the
consumer's committed offsets lag the state saved in the changelog, or a held message is also fetched
again — are recognised by their offsets and skipped, so the outputs equal an uninterrupted run."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.runtime.driver import PipelineDriver
from streams.runtime.pipelines import build_pipeline

T0 = 1_795_132_800_000_000  # 2026-11-20T00:00:00Z (crypto: 24/7)
TOPIC = "md.ticks.v1"
SERDE = AvroSerde()


def ticks(n: int) -> list[bytes]:
    encode = SERDE.encoder("PriceTick")
    out = []
    for i in range(n):
        venue, symbol = ("binance", "BTC/USDT") if i % 3 else ("kraken", "ETH/USDT")
        price = 64_000.0 + (i % 17) * 3.5 - (i % 5)
        out.append(
            encode(
                {
                    "event_id": f"{venue}:{symbol}:{i}",
                    "event_time": T0 + i * 700_000,
                    "venue": venue,
                    "symbol": symbol,
                    "bid": price - 0.5,
                    "ask": price + 0.5,
                    "last": price,
                    "volume": 0.01,
                    "sequence": i,
                }
            )
        )
    return out


def outputs(results: list[Any]) -> list[tuple[str, str, bytes]]:
    return [(o.topic, o.key, o.value) for r in results for o in r]


class Store:
    """The changelog table: what the worker saves after each batch, and what a restart loads."""

    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}

    def load(self, partition: int) -> list[tuple[str, dict[str, Any]]]:
        states = [(k, orjson.loads(v)) for k, v in self.saved.items()]
        return [(k, s) for k, s in states if s["partition"] == partition]

    def save(self, driver: PipelineDriver) -> None:
        for key, partition in driver.take_touched().items():
            self.saved[key] = orjson.dumps(driver.saved_state(key, partition))


@pytest.fixture(scope="module")
def spec() -> Any:
    return build_pipeline("marketdata", Settings())


def run_live(spec: Any, store: Store, values: list[bytes], offsets: range, batch: int = 50) -> list[Any]:
    driver = PipelineDriver(spec, SERDE, load_partition=store.load)
    results = []
    for start in range(offsets.start, offsets.stop, batch):
        for offset in range(start, min(start + batch, offsets.stop)):
            results.append(driver.process(TOPIC, 0, offset, values[offset]))
        store.save(driver)
    return results


@pytest.mark.parametrize("committed", [0, 130, 400, 599])
def test_restart_from_lagging_committed_offsets_skips_what_the_state_already_has(spec: Any, committed: int) -> None:
    """The first worker processes and saves 0..600; its committed offset was only ``committed``. The
    restarted worker gets ``committed``..1,200 again: together they emit exactly what one run emits."""
    values = ticks(1200)
    reference = outputs(run_live(spec, Store(), values, range(0, 1200)))
    assert len(reference) > 40  # bars of both keys, indicators, quality
    store = Store()
    first = run_live(spec, store, values, range(0, 600))
    again = run_live(spec, store, values, range(committed, 1200))
    assert outputs(first) + outputs(again) == reference
    assert outputs(again[: 600 - committed]) == []  # every re-delivered message was skipped


def test_a_message_delivered_twice_in_one_session_is_processed_once(spec: Any) -> None:
    values = ticks(300)
    reference = outputs(run_live(spec, Store(), values, range(0, 300)))
    driver = PipelineDriver(spec, SERDE, load_partition=Store().load)
    results = [driver.process(TOPIC, 0, offset, values[offset]) for offset in range(0, 200)]
    results += [driver.process(TOPIC, 0, offset, values[offset]) for offset in range(150, 300)]
    assert outputs(results) == reference
    assert driver.skipped_inputs == 50


def test_replay_drivers_do_not_track_offsets(spec: Any) -> None:
    """Without a state store (replay, tests) offsets are not interpreted: the same offset twice is two
    messages."""
    values = ticks(2)
    driver = PipelineDriver(spec, SERDE)
    driver.process(TOPIC, 0, 0, values[0])
    driver.process(TOPIC, 0, 0, values[1])
    assert driver.inputs_seen == 2 and driver.skipped_inputs == 0
