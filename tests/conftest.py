"""Shared fixtures. Tests that need Kafka or PostgreSQL use the real services started by infra/."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# The tests produce generated days with fixed dates; Kafka's retention runs on message timestamps
# (= event time), so their topics keep data forever (inherited by the workers the tests start).
os.environ.setdefault("MERCADO_TOPIC_RETENTION_MS", "-1")

from streams.config import Settings, get_settings


@pytest.fixture(scope="session")
def services() -> Iterator[Settings]:
    """The shared local broker and database (started once, left running for later runs)."""
    from infra.local import up

    settings = get_settings()
    up(settings)
    from streams.topic_admin import ensure_topics

    ensure_topics(settings)
    yield settings


@pytest.fixture(scope="session")
def kafka(services: Settings) -> Settings:
    return services
