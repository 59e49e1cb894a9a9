"""Shared fixtures. Tests that need Kafka or PostgreSQL use the real services started by infra/.

Every topic a test session creates is named under one prefix of that session's own
(``<MERCADO_KAFKA__TOPIC_PREFIX>mercadotest-<random>.``, :data:`SESSION_TOPIC_PREFIX`): the ``services`` /
``kafka`` fixtures hand out settings with that prefix, and tests that want topics of their own extend
it (``services.kafka.topic_prefix + "name."``). At the end of the session only topics under that prefix are
deleted, so a session run against a shared broker (``MERCADO_KAFKA_BOOTSTRAP``) never touches topics
that other people, benchmarks, demos or other test sessions created meanwhile.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

# The tests produce generated days with fixed dates; Kafka's retention runs on message timestamps
# (= event time), so their topics keep data forever (inherited by the workers the tests start).
os.environ.setdefault("MERCADO_KAFKA__TOPIC_RETENTION_MS", "-1")

from streams.config import Settings, get_settings

SESSION_TOPIC_PREFIX = f"mercadotest-{uuid.uuid4().hex[:10]}."  # under the configured prefix, if any


def session_settings(settings: Settings) -> Settings:
    """The settings of this test session: its own topic prefix (and so its own consumer groups)."""
    return settings.with_({"kafka__topic_prefix": settings.kafka.topic_prefix + SESSION_TOPIC_PREFIX})


@pytest.fixture(scope="session")
def services() -> Iterator[Settings]:
    """The shared local broker and database (started once, left running for later runs), with this
    session's topic prefix."""
    from infra.local import up

    settings = session_settings(get_settings())
    up(settings)
    from streams.kafka.admin import ensure_topics

    ensure_topics(settings)  # the catalog's topics, under the session's prefix
    yield settings
    if os.environ.get("MERCADO_TEST_KEEP_TOPICS") != "1":
        delete_topics_under(settings, settings.kafka.topic_prefix)


def _admin(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    from streams.kafka.clients import admin_config

    return AdminClient(admin_config(settings))


def topic_names(settings: Settings) -> set[str]:
    return set(_admin(settings).list_topics(timeout=30).topics)


def delete_topics_under(settings: Settings, prefix: str) -> list[str]:
    """Deletes the topics whose names start with ``prefix`` (the session's: left behind, thousands of
    them accumulate over runs and a broker restart then takes minutes); returns their names. Any other
    topic stays, whoever created it and whenever. MERCADO_TEST_KEEP_TOPICS=1 keeps them for debugging."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix: that would be every topic of the broker")
    names = sorted(n for n in topic_names(settings) if n.startswith(prefix))
    if not names:
        return []
    admin = _admin(settings)  # kept referenced until every future is done (else the handle is destroyed)
    failed = []
    for name, future in admin.delete_topics(names, operation_timeout=60).items():
        try:
            future.result(timeout=90)
        except Exception as exc:  # noqa: BLE001 - best effort; reported, never fails the session
            failed.append(f"{name}: {exc}")
    if failed:
        print(f"\nconftest: could not delete {len(failed)} of {len(names)} test topics, e.g. {failed[0]}")
    return names


@pytest.fixture(scope="session")
def kafka(services: Settings) -> Settings:
    return services


@pytest.fixture(scope="session")
def generated_days(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[Path, Any]]:
    """``generate_day(out, seed, day, domains=...)`` made once per session for each (seed, day, domains):
    returns the folder and the manifest. A full day takes ~10 s to generate and several modules (unit and
    integration) read the same one; only for tests that read the files (write yours elsewhere)."""
    from streams.generator import generate_day

    made: dict[tuple[int, date, tuple[str, ...] | None], tuple[Path, Any]] = {}

    def get(seed: int, day: date, domains: Collection[str] | None = None) -> tuple[Path, Any]:
        from streams.generator import DOMAINS

        every = domains is None or set(domains) == set(DOMAINS)  # the same files as the default
        key = (seed, day, None if every else tuple(sorted(domains)))
        if key not in made:
            out = tmp_path_factory.mktemp(f"day-{seed}-{day.isoformat()}")
            made[key] = (out, generate_day(out, seed, day, domains=domains))
        return made[key]

    return get
