"""``MERCADO_KAFKA__TOPIC_RETENTION_MS`` overrides the catalog's retention when topics are created."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import TopicSpec
from streams.kafka.clients import admin_config

pytestmark = pytest.mark.kafka


def _retention(settings: Settings, name: str) -> str:
    admin = AdminClient(admin_config(settings))
    [future] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).values()
    return future.result()["retention.ms"].value


def test_the_override_replaces_the_catalog_retention(kafka: Settings) -> None:
    prefix = f"{kafka.kafka.topic_prefix}t{time.time_ns() % 10**12}.retention."
    spec = (TopicSpec("kept.v1", ("PriceTick",), ("venue",), "kept", retention_ms=1000),)
    forever = kafka.with_({"kafka__topic_prefix": prefix + "a.", "kafka__topic_retention_ms": -1})
    catalog = kafka.with_({"kafka__topic_prefix": prefix + "b.", "kafka__topic_retention_ms": None})
    ensure_topics(forever, spec)
    ensure_topics(catalog, spec)
    assert _retention(forever, forever.topic("kept.v1")) == "-1"
    assert _retention(catalog, catalog.topic("kept.v1")) == "1000"
