"""``mercado topics create``: creates the catalog's missing topics and reports drift in existing ones."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from streams.config import Settings
from streams.kafka.catalog import TopicSpec, all_topics
from streams.kafka.clients import admin_config


@dataclass(frozen=True)
class TopicState:
    name: str
    action: str  # "created" | "exists" | "differs"
    detail: str = ""


def ensure_topics(
    settings: Settings, specs: tuple[TopicSpec, ...] | None = None, *, timeout: float = 30.0
) -> list[TopicState]:
    """Idempotent: creates what is missing, never alters what exists (differences are reported)."""
    retention = settings.kafka.topic_retention_ms
    specs = tuple(
        replace(s, name=settings.topic(s.name), **({} if retention is None else {"retention_ms": retention}))
        for s in (specs or all_topics())
    )  # physical names (with the settings' topic prefix)
    admin = AdminClient(admin_config(settings))
    existing = admin.list_topics(timeout=timeout).topics
    states: list[TopicState] = []
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config()) for s in missing],
            operation_timeout=timeout,
        )
        for name, fut in futures.items():
            try:
                fut.result()
                states.append(TopicState(name, "created"))
            except KafkaException as exc:
                err = exc.args[0]
                if err.name() != "TOPIC_ALREADY_EXISTS":  # created concurrently: fine
                    raise
                states.append(TopicState(name, "exists"))
    present = [s for s in specs if s.name in existing]
    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in present]
        configs = admin.describe_configs(resources)
        by_name = {r.name: fut.result(timeout=timeout) for r, fut in configs.items()}
        for s in present:
            diffs = []
            partitions = len(existing[s.name].partitions)
            if partitions != s.partitions:
                diffs.append(f"partitions {partitions} (catalog {s.partitions})")
            actual = by_name[s.name]
            for key, want in s.config().items():
                have = actual[key].value if key in actual else None
                if have != want:
                    diffs.append(f"{key}={have} (catalog {want})")
            states.append(TopicState(s.name, "differs" if diffs else "exists", "; ".join(diffs)))
    if any(st.action == "created" for st in states):
        _wait_for_leaders(admin, [s.name for s in missing], timeout)
    order = {s.name: i for i, s in enumerate(specs)}
    return sorted(states, key=lambda st: order[st.name])


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> None:
    """A new topic's partitions have no leader for a moment; producing then fails. Wait it out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=timeout).topics
        if all(
            n in md
            and md[n].error is None
            and md[n].partitions
            and all(p.leader >= 0 and p.error is None for p in md[n].partitions.values())
            for n in names
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {', '.join(names)} have no partition leaders after {timeout:.0f} s")
