"""Shared fixtures. Tests that need Kafka or PostgreSQL use the real services started by infra/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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
    before = _topic_names(settings)
    yield settings
    if os.environ.get("MERCADO_TEST_KEEP_TOPICS") != "1":
        _delete_topics(settings, _topic_names(settings) - before)


def _admin(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    from streams.kafka_clients import admin_config

    return AdminClient(admin_config(settings))


def _topic_names(settings: Settings) -> set[str]:
    return set(_admin(settings).list_topics(timeout=30).topics)


# topic prefixes of `python -m bench.*` (bench.mdlive.*, bench-*) and `mercado demo` (demo.*)
_NOT_TESTS = ("bench", "demo.")


def _delete_topics(settings: Settings, names: set[str]) -> None:
    """Deletes the topics this session created (each test uses its own prefix): left behind, thousands
    of them accumulate over runs and a broker restart then takes minutes. MERCADO_TEST_KEEP_TOPICS=1
    keeps them for debugging."""
    # a benchmark or a demo running beside the tests creates topics too; they are not this session's
    names = {n for n in names if not n.startswith(("__", *_NOT_TESTS))}
    if not names:
        return
    admin = _admin(settings)  # kept referenced until every future is done (else the handle is destroyed)
    failed = []
    for name, future in admin.delete_topics(sorted(names), operation_timeout=60).items():
        try:
            future.result(timeout=90)
        except Exception as exc:  # noqa: BLE001 - best effort; reported, never fails the session
            failed.append(f"{name}: {exc}")
    if failed:
        print(f"\nconftest: could not delete {len(failed)} of {len(names)} test topics, e.g. {failed[0]}")


@pytest.fixture(scope="session")
def kafka(services: Settings) -> Settings:
    return services
