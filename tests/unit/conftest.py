"""Tests here need no service: `pytest tests/unit` passes on a machine without Kafka or PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def services() -> None:
    raise RuntimeError("a unit test asked for the real services: it belongs in tests/integration")
