"""The test session's topics: created under the session's own prefix, and only those deleted at the end
(tests/conftest.py), so a run against a shared broker leaves other people's topics alone."""

from __future__ import annotations

import uuid

import pytest

from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.catalog import TopicSpec
from tests.conftest import SESSION_TOPIC_PREFIX, delete_topics_under, topic_names

SPEC = (TopicSpec("owned.v1", ("PriceTick",), ("venue",), "test topic", partitions=1),)


def test_the_session_settings_name_topics_under_the_session_prefix(kafka: Settings) -> None:
    assert kafka.kafka.topic_prefix.endswith(SESSION_TOPIC_PREFIX)
    assert kafka.topic("md.ticks.v1") == kafka.kafka.topic_prefix + "md.ticks.v1"
    assert kafka.kafka.topic_prefix + "md.ticks.v1" in topic_names(kafka)  # the catalog, created by `services`


def test_teardown_deletes_only_topics_under_its_prefix(kafka: Settings) -> None:
    """A session (here: a nested prefix, so the real session's topics stay) deletes its own topics;
    topics created meanwhile under another prefix, or with no prefix, survive it."""
    tag = uuid.uuid4().hex[:8]
    session = kafka.with_({"kafka__topic_prefix": f"{kafka.kafka.topic_prefix}teardown-{tag}."})
    other_tenant = kafka.with_({"kafka__topic_prefix": f"othertenant-{tag}."})  # someone else's
    lookalike = kafka.with_({"kafka__topic_prefix": f"{kafka.kafka.topic_prefix}teardown-{tag}x."})  # not "."
    for settings in (session, other_tenant, lookalike):
        ensure_topics(settings, SPEC)
    others = {other_tenant.topic("owned.v1"), lookalike.topic("owned.v1")}
    try:
        deleted = delete_topics_under(kafka, session.kafka.topic_prefix)

        assert deleted == [session.topic("owned.v1")]
        names = topic_names(kafka)
        assert session.topic("owned.v1") not in names
        assert others <= names
    finally:  # this test's own topics outside the session prefix: removed by name
        delete_topics_under(kafka, other_tenant.kafka.topic_prefix)


def test_teardown_refuses_an_empty_prefix(kafka: Settings) -> None:
    with pytest.raises(ValueError, match="without a prefix"):
        delete_topics_under(kafka, "")
