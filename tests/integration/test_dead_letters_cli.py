"""`mercado dead-letters` shows what the pipelines refused: reason, origin and the record."""

from __future__ import annotations

import time

import orjson
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from processors.admission import Refused
from streams.codec.serde import AvroSerde
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import DEAD_LETTER_TOPIC
from streams.kafka.clients import producer_config
from streams.kafka.dead_letters import DeadLetter

pytestmark = pytest.mark.kafka

Y2999 = 32_472_144_000_000_000


def test_dead_letters_lists_each_refused_event_with_its_reason_and_record(services: Settings, monkeypatch) -> None:
    prefix = f"{services.kafka.topic_prefix}t{time.time_ns() % 10**12}.dlq."
    settings = services.with_({"kafka__topic_prefix": prefix})
    ensure_topics(settings)
    tick = {"event_id": "binance:BTC/USDT:7", "event_time": Y2999, "venue": "binance", "symbol": "BTC/USDT",
            "bid": None, "ask": None, "last": 64000.0, "volume": 0.5, "sequence": 7, "backfill_id": None}
    value = AvroSerde().encode("PriceTick", tick)
    producer = Producer(producer_config(settings))
    letters = [(value, Refused("event-time-ahead", "event_time 2999-01-01T00:00:00Z is far ahead"), 6),
               (b"\x00garbage", Refused("bad-magic", "not an Avro event"), 9)]
    for body, error, offset in letters:
        producer.produce(settings.topic(DEAD_LETTER_TOPIC), body, b"binance:BTC/USDT",
                         headers=DeadLetter.refused(settings.topic("md.ticks.v1"), 0, offset, None, body, [],
                                                    error).kafka_headers())
    assert producer.flush(30) == 0
    monkeypatch.setenv("MERCADO_KAFKA__TOPIC_PREFIX", prefix)
    from streams.commands.cli import app
    from streams.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["dead-letters", "--json"])
        only = CliRunner().invoke(app, ["dead-letters", "--json", "--reason", "bad-magic"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(r["reason"], r["topic"], r["offset"]) for r in rows] == [
        ("event-time-ahead", prefix + "md.ticks.v1", "6"), ("bad-magic", prefix + "md.ticks.v1", "9")]
    assert rows[0]["value"]["schema"] == "PriceTick" and rows[0]["value"]["record"]["event_time"] == Y2999
    assert set(rows[1]["value"]) == {"undecodable", "bytes"} and rows[1]["value"]["bytes"] == len(b"\x00garbage")
    assert [orjson.loads(line)["reason"] for line in only.stdout.splitlines() if line.startswith("{")] == ["bad-magic"]
