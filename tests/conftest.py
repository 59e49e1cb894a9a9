"""Shared fixtures. Tests that need Kafka or PostgreSQL use the real services started by infra/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
