"""The faust engine's table recovery reads every changelog partition to the end the broker reports
(``streams.engines.faust_engine.read_changelog_ends_from_the_broker``), also before the consumer's first fetch of it.
No broker: faust's own recovery code runs against an aiokafka consumer stand-in."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("faust", reason="the faust engine's extra is not installed: pip install -e '.[faust]'")

from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.engines.faust_engine import read_changelog_ends_from_the_broker

CHANGELOG = [TP("app-marketdata-state-changelog", 0), TP("app-marketdata-state-changelog", 1)]


class _AIOKafkaConsumer:
    """An assigned read_committed aiokafka consumer right after a rebalance: the broker's changelog
    partitions hold committed state (last stable offsets 120 and 45), but no fetch has answered yet, so
    aiokafka knows no last stable offset (``None``, as aiokafka's TopicPartitionState starts)."""

    def last_stable_offset(self, tp: TP) -> int | None:
        return None

    async def end_offsets(self, partitions: list[TP]) -> dict[TP, int]:
        return {tp: {0: 120, 1: 45}[tp.partition] for tp in partitions}


async def _recovery_highwaters() -> Counter:
    """What faust's Recovery._build_highwaters records for the changelog partitions: it reads each one
    up to that offset (-1: nothing to read)."""
    thread = SimpleNamespace(consumer=SimpleNamespace(in_transaction=True), _ensure_consumer=_AIOKafkaConsumer)

    class Consumer:  # faust's consumer delegates highwaters() to its thread
        async def highwaters(self, *tps: TP) -> Any:
            return await AIOKafkaConsumerThread._highwaters(thread, list(tps))

    recovery = SimpleNamespace(log=logging.getLogger("test"), _highwater_logtable=lambda *_, **__: "")
    highwaters: Counter = Counter()
    await Recovery._build_highwaters(recovery, Consumer(), set(CHANGELOG), highwaters, "active")
    return highwaters


def test_faust_alone_skips_changelog_partitions_not_fetched_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defect: with exactly_once, faust takes the cached last stable offset of the last fetch
    response, None before the first one: the partitions look empty and recovery restores nothing."""
    current = AIOKafkaConsumerThread._highwaters
    monkeypatch.setattr(AIOKafkaConsumerThread, "_highwaters", getattr(current, "faust_original", current))
    assert asyncio.run(_recovery_highwaters()) == {CHANGELOG[0]: -1, CHANGELOG[1]: -1}


def test_the_worker_recovers_changelogs_to_the_broker_end(monkeypatch: pytest.MonkeyPatch) -> None:
    current = AIOKafkaConsumerThread._highwaters
    monkeypatch.setattr(AIOKafkaConsumerThread, "_highwaters", getattr(current, "faust_original", current))
    read_changelog_ends_from_the_broker()
    read_changelog_ends_from_the_broker()  # idempotent: create_app calls it per app
    assert getattr(AIOKafkaConsumerThread._highwaters, "faust_original", None) is not None
    # faust's "-1" (FIXME in recovery.py): it reads up to the last offset before the end
    assert asyncio.run(_recovery_highwaters()) == {CHANGELOG[0]: 119, CHANGELOG[1]: 44}


def test_the_faust_state_changelog_gets_the_changelog_configs() -> None:
    """The faust engine's table changelog rolls and compacts like the native engine's (both from
    ``settings.kafka.changelog_config()``)."""
    from streams.config import get_settings
    from streams.engines.faust_engine import create_app

    settings = get_settings()
    app = create_app(settings, "marketdata")
    [table] = app.tables.values()
    assert dict(table.changelog_topic.config) == settings.kafka.changelog_config()
